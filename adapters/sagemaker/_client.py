"""Building the boto3 clients, lazily: nothing under ``boto3`` / ``botocore`` is imported until first use.

boto3's own retries are switched off (``total_max_attempts = 1``, standard mode): every retry is the
engine's (:class:`~adapters.RetryPolicy`, with jittered backoff and ``Retry-After``), so there is no hidden
second layer multiplying attempts and sleeping on the wall clock. ``max_attempts`` counts *retries* in
botocore (0 = none) while ``total_max_attempts`` counts attempts including the first (botocore's
``Config`` docstring); we give the latter, which botocore prefers.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

from checkpoint._errors import MissingDependency

from .._credentials import CredentialRef
from .._shared import shared_per_arguments
from ._aws_auth import session_for

#: botocore's retry settings: one attempt, ours are the only retries.
NO_RETRIES = {"total_max_attempts": 1, "mode": "standard"}


def boto3_module() -> ModuleType:
    """``boto3``, or MissingDependency with the install hint."""
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependency("the SageMaker adapters", "sagemaker", "boto3") from exc
    module: ModuleType = boto3
    return module


class SageMakerClients:
    """The ``sagemaker`` and ``sagemaker-runtime`` clients of one region, endpoint and credential.

    Args:
        region: the AWS region, e.g. ``us-east-1``.
        credentials: the credential reference, resolved here (never serialised).
        endpoint_url: an override of the control-plane endpoint (the emulator's ``http://127.0.0.1:PORT``).
        runtime_endpoint_url: an override of the runtime (InvokeEndpoint) endpoint; default
            ``endpoint_url``, since the emulator serves both on one port.
        call_timeout: read timeout of one call, in seconds.
        connect_timeout: connect timeout of one call, in seconds.
        max_pool_connections: connections kept per client (concurrent predictions need as many).
    """

    def __init__(
        self,
        region: str,
        credentials: CredentialRef,
        endpoint_url: str | None = None,
        runtime_endpoint_url: str | None = None,
        *,
        call_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_pool_connections: int = 16,
    ) -> None:
        boto3_module()
        from botocore.config import Config

        self.region = region
        self.endpoint_url = endpoint_url
        self.runtime_endpoint_url = runtime_endpoint_url or endpoint_url
        self._session, unsigned = session_for(credentials, region)
        extra: dict[str, Any] = {}
        if unsigned:
            from botocore import UNSIGNED

            extra["signature_version"] = UNSIGNED
        self._config = Config(
            region_name=region,
            retries=NO_RETRIES,
            read_timeout=call_timeout,
            connect_timeout=connect_timeout,
            max_pool_connections=max_pool_connections,
            **extra,
        )
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def _client(self, service: str, endpoint_url: str | None) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = self._session.client(
                    service, endpoint_url=endpoint_url, config=self._config
                )
            return client

    @property
    def sagemaker(self) -> Any:
        """The ``sagemaker`` control-plane client."""
        return self._client("sagemaker", self.endpoint_url)

    @property
    def runtime(self) -> Any:
        """The ``sagemaker-runtime`` client (InvokeEndpoint)."""
        return self._client("sagemaker-runtime", self.runtime_endpoint_url)


#: The process-wide clients for one way of reaching SageMaker (a thousand jobs share one pool).
shared_clients = shared_per_arguments(SageMakerClients)
