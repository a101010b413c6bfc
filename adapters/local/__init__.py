"""The local-process adapter: jobferry's offline mode, and the reference implementation of an adapter.

A job is a directory under ``jobs_dir``; a detached worker process runs your ``train`` entrypoint there,
so the job outlives the process that submitted it. See :class:`LocalProcessModel`.
"""

from ._model import ENV_JOBS_DIR, LocalEntrypointError, LocalJobConfig, LocalProcessModel

__all__ = ["ENV_JOBS_DIR", "LocalEntrypointError", "LocalJobConfig", "LocalProcessModel"]
