"""Mounting the emulator into a ``responses.RequestsMock``, for in-process tests without a socket."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ._app import EmulatorApp
from ._config import EmulatorConfig
from ._wire import ResponseDropped

if TYPE_CHECKING:
    import responses

_VERBS = ("GET", "POST", "DELETE", "PATCH", "PUT")


def mount_in_responses(
    rsps: responses.RequestsMock, base_url: str, app: EmulatorApp | None = None, **fields: Any
) -> EmulatorApp:
    """Registers callbacks for every verb under ``base_url`` that answer from an emulator.

    A dropped response (injected fault) raises ``requests.exceptions.ConnectionError`` after the effect,
    as a lost connection would.

    Args:
        rsps: an active ``responses.RequestsMock``.
        base_url: e.g. ``https://us-central1-aiplatform.googleapis.com`` (no trailing slash).
        app: the emulator that answers; built from ``fields`` (:class:`EmulatorConfig`) when None.
        **fields: configuration of a new emulator.

    Returns:
        The emulator, for its ``state``, ``counts`` and ``faults``.
    """
    import requests  # responses depends on requests; imported late so the emulator itself never needs it

    emulator = app or EmulatorApp(EmulatorConfig(**fields))

    def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        try:
            return emulator.handle(
                request.method,
                url.path,
                parse_qs(url.query, keep_blank_values=True),
                body,
                dict(request.headers),
            )
        except ResponseDropped as exc:
            raise requests.exceptions.ConnectionError(f"Connection aborted: {exc}", request=request) from None

    pattern = re.compile(re.escape(base_url.rstrip("/")) + r"/.*")
    for verb in _VERBS:
        rsps.add_callback(verb, pattern, callback=callback)
    return emulator
