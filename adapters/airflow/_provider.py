"""The provider info Airflow reads at start-up (entry point group ``apache_airflow_provider``).

Every ``import airflow`` in every process (CLI, scheduler, workers, triggerer, tests) calls this, and a
bad dict breaks ``import airflow`` itself -- so this module imports nothing, and a test validates the dict
against Airflow's own ``provider_info.schema.json``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]

_INTEGRATION = "jobferry"


def get_provider_info() -> dict[str, Any]:
    """The provider's metadata; ``package-name`` must equal the distribution's canonical name."""
    return {
        "package-name": "jobferry",
        "name": "jobferry",
        "description": (
            "Deferrable operators and a trigger for jobs on managed training services (Vertex AI, local "
            "processes, ...) through jobferry: exactly-once submission, adaptive polling, shared quotas."
        ),
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://github.com/jobferry/jobferry#airflow",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["adapters.airflow._operators", "adapters.airflow._serving_ops"],
            }
        ],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": ["adapters.airflow._trigger"]}],
    }
