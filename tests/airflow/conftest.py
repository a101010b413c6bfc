"""Real Airflow (3.3, SQLite, in-process ``dag.test()``) for the provider's tests.

Airflow reads its configuration when it is first imported, so the environment is set here, at import time,
before any test module imports it: a temporary ``AIRFLOW_HOME`` (its own SQLite file), no example DAGs,
unit-test mode (``unit_tests.cfg``: DAGs unpaused, random per-process secrets) and quiet logs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_HOME = tempfile.mkdtemp(prefix="jobferry-airflow-home-")
DAGS = Path(_HOME) / "dags"
DAGS.mkdir()
os.environ.update(
    AIRFLOW_HOME=_HOME,
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__UNIT_TEST_MODE="True",
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
    AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
)

# Set before airflow is imported: the module-level imports below are the first ones in this session.
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

from adapters._poll import clear_limiters  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> None:
    """A fresh metadata database, once per session (2 s; 0.25 s when the file exists)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    clear_limiters()
    yield
    clear_limiters()


@pytest.fixture
def sync_dag() -> Callable[[Any], Any]:
    """Write an in-test DAG to the metadata DB, so that ``dag.test()`` can create a run for it.

    Internal APIs of Airflow 3.3 (``update_dag_parsing_results_in_db``, ``LazyDeserializedDAG``): re-check
    them on upgrade. DAG files in the dags folder are the public alternative (the example's test uses it).
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    def _sync(dag: Any) -> Any:
        DagBundlesManager().sync_bundles_to_db()
        with create_session() as session:
            update_dag_parsing_results_in_db(
                "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
            )
        return dag

    return _sync
