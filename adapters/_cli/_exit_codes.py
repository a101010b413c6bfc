"""The exit codes of ``jobferry`` and which errors map to which (the table is in the package docstring)."""

from __future__ import annotations

from adapters._errors import JobTimeout, SpecError
from checkpoint._errors import CheckpointNotFound, InvalidName, InvalidWorkspace, JobferryError

EXIT_OK = 0
EXIT_ERROR = 1  # also: the job ended without success
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130


class UsageError(JobferryError):
    """Bad command-line usage or input that argparse cannot catch (exit code 2)."""


def _usage_errors() -> tuple[type[BaseException], ...]:
    # Imported when an error is reported, not at start-up: the engine is most of `jobferry --help`'s cost.
    from .._loading import NotAJobCheckpoint

    return (SpecError, InvalidName, InvalidWorkspace, CheckpointNotFound, NotAJobCheckpoint, UsageError)


def _exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, JobTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, _usage_errors()):
        return EXIT_USAGE
    return EXIT_ERROR
