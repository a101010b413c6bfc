"""Airflow finds the provider the standard way, and importing jobferry never imports Airflow."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import airflow
import jsonschema

from adapters.airflow._provider import get_provider_info

from .helpers import ROOT


def test_provider_info_is_valid_against_airflows_own_schema() -> None:
    # A bad dict here breaks `import airflow` in every process, so it is checked like Airflow checks it.
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == metadata.distribution("jobferry").metadata["Name"]


def test_the_entry_point_is_installed_and_providers_manager_lists_it() -> None:
    from airflow.providers_manager import ProvidersManager

    (entry,) = [
        e for e in metadata.entry_points(group="apache_airflow_provider") if e.dist.name == "jobferry"
    ]
    assert entry.value == "adapters.airflow._provider:get_provider_info"
    provider = ProvidersManager().providers["jobferry"]
    assert provider.version == metadata.version("jobferry")
    assert provider.data["triggers"][0]["python-modules"] == ["adapters.airflow._trigger"]


def test_every_listed_module_imports_and_holds_what_it_promises() -> None:
    import importlib

    info = get_provider_info()
    modules = [
        m for group in ("operators", "triggers") for entry in info[group] for m in entry["python-modules"]
    ]
    names = {m: dir(importlib.import_module(m)) for m in modules}
    assert "JobferryJobTrigger" in names["adapters.airflow._trigger"]
    assert "JobferryTrainOperator" in names["adapters.airflow._operators"]


def test_importing_jobferry_or_its_provider_info_imports_no_airflow() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"  # site's .pth files pre-import the bare `google` namespace
        "import adapters, checkpoint, adapters.airflow, adapters.airflow._provider\n"
        "adapters.airflow._provider.get_provider_info()\n"
        "new = set(sys.modules) - before\n"
        "print(sorted(m for m in new if m.split('.')[0] in ('airflow', 'google', 'grpc', 'sqlalchemy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
