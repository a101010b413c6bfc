"""The exit codes of ``jobferry`` and which errors map to which (the table is in the package docstring)."""

from __future__ import annotations

from adapters._errors import JobTimeout, SpecError
from checkpoint._errors import CheckpointNotFound, InvalidName, InvalidWorkspace, JobferryError

from .._jobs import JobState
from .._loading import NotAJobCheckpoint

EXIT_OK = 0
EXIT_ERROR = 1  # also: the job ended without success
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

_FAILED_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
_USAGE_ERRORS: tuple[type[BaseException], ...] = (
    SpecError,
    InvalidName,
    InvalidWorkspace,
    CheckpointNotFound,
    NotAJobCheckpoint,
)


class UsageError(JobferryError):
    """Bad command-line usage or input that argparse cannot catch (exit code 2)."""


def _exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, JobTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, (*_USAGE_ERRORS, UsageError)):
        return EXIT_USAGE
    return EXIT_ERROR
