"""The job and vendor half of the jobferry exception tree (the storage half is ``checkpoint``'s).

One root, so ``except JobferryError`` catches everything; vendor exceptions never escape: each adapter
translates them at its boundary (Vertex: :mod:`adapters.vertex._errors`, SageMaker:
:mod:`adapters.sagemaker._errors`). The whole tree::

    JobferryError                          (checkpoint._errors)
    ├── InvalidName (ValueError)           a plugin instance ID or handle that cannot be a path
    ├── MissingDependency (ImportError)    an optional extra is not installed; carries the pip hint
    ├── WorkspaceError                     a workspace URL that cannot be opened or written
    │   ├── InvalidWorkspace (ValueError)  not a workspace at all: empty, a file, an unknown scheme
    │   └── CheckpointNotFound (LookupError)
    ├── BundleError
    │   ├── BundleCorrupted                digest, size or manifest mismatch on download
    │   └── UnsafeArchive                  hostile entries: traversal, links, bombs, collisions
    ├── SecretInCheckpoint                 credential material found in a folder about to be published
    │                                      --- from here on: adapters ---
    ├── CredentialError                    a credential reference that cannot be resolved
    │   └── InvalidCredentialRef (ValueError)   malformed, or key material instead of a reference
    ├── SpecError (ValueError)             a job spec / config that fails validation (field path + value)
    ├── VendorError                        a vendor call failed; carries the vendor's code and message
    │   ├── TransientError                 429, 5xx, connection errors: retried, raised when retries run out
    │   │   ├── QuotaExceeded              429 / RESOURCE_EXHAUSTED after retries
    │   │   └── ServiceUnreachable         connection refused / no such host: nothing was sent
    │   ├── PermanentError                 4xx: raised at once, never retried
    │   │   ├── AuthError                  401 / 403 / PERMISSION_DENIED
    │   │   ├── InvalidJobSpec             400 / INVALID_ARGUMENT
    │   │   ├── Conflict                   409 / ALREADY_EXISTS
    │   │   └── LocalEntrypointError       the local adapter's predict entrypoint raised
    │   └── OutcomeUnknown                 a create whose response never came (reconciled by submission key)
    ├── JobError                           about one external job; carries its ID and last status
    │   ├── JobNotFound (LookupError)      also a PermanentError: the vendor said 404
    │   ├── JobFailed                      the job ended FAILED, CANCELLED or EXPIRED
    │   ├── JobIdentityMismatch            the job the vendor describes is not the one the record submitted
    │   └── JobTimeout (TimeoutError)      waiting gave up before the job ended
    │       └── SubmissionBusy             another process holds the spec's claim and did not finish in time
    ├── PredictionError                    a prediction chunk failed for good; names the chunk
    ├── NotAJobCheckpoint (LookupError)    a checkpoint that holds no job.json
    └── UsageError                         bad command-line usage (the CLI's exit code 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkpoint._errors import JobferryError

if TYPE_CHECKING:
    from ._jobs import JobStatus

__all__ = [
    "AuthError",
    "Conflict",
    "CredentialError",
    "InvalidJobSpec",
    "JobError",
    "JobFailed",
    "JobIdentityMismatch",
    "JobNotFound",
    "JobTimeout",
    "OutcomeUnknown",
    "PermanentError",
    "PredictionError",
    "QuotaExceeded",
    "ServiceUnreachable",
    "SpecError",
    "SubmissionBusy",
    "TransientError",
    "VendorError",
]


class CredentialError(JobferryError):
    """A credential reference that cannot be resolved (missing file, unset variable, ...)."""


class SpecError(JobferryError, ValueError):
    """A job spec or adapter config that fails validation; the message names the field and the value."""


class VendorError(JobferryError):
    """A call to an external service failed.

    Attributes:
        vendor: the service (``"vertex"``, ``"local"``, ...).
        code: the HTTP status code, when there is one.
        status: the vendor's status name (``"UNAVAILABLE"``, ...), when there is one.
        vendor_message: the vendor's own message.
        retry_after: seconds the server asked us to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "",
        code: int | None = None,
        status: str | None = None,
        vendor_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.vendor = vendor
        self.code = code
        self.status = status
        self.vendor_message = vendor_message
        self.retry_after = retry_after
        super().__init__(message)


class TransientError(VendorError):
    """A failure worth retrying: 429, 500, 502, 503, 504, a connection error, UNAVAILABLE, ..."""


class QuotaExceeded(TransientError):
    """The vendor's quota is exhausted (429 / RESOURCE_EXHAUSTED) and retries ran out."""


class ServiceUnreachable(TransientError):
    """The service refused the connection or its name does not resolve: the request was never sent.

    Retried like any transient error while polling a job that exists; a first contact (``train``) gives
    up after a couple of attempts, so a stopped emulator or a wrong endpoint is said at once.
    """


class PermanentError(VendorError):
    """A failure that retrying cannot fix (400, 401, 403, 404, 409)."""


class AuthError(PermanentError):
    """The credentials were refused (401 / 403)."""


class InvalidJobSpec(PermanentError):
    """The vendor rejected the job or request as invalid (400)."""


class Conflict(PermanentError):
    """The resource already exists or is in a conflicting state (409)."""


class OutcomeUnknown(VendorError):
    """A create call whose response never arrived: the job may or may not exist."""


class JobError(JobferryError):
    """An error about one external job.

    Attributes:
        job_id: the job's ID or resource name, if known.
        last_status: the last status seen (a ``JobStatus``), if any.
    """

    def __init__(
        self, message: str, *, job_id: str | None = None, last_status: JobStatus | None = None
    ) -> None:
        self.job_id = job_id
        self.last_status = last_status
        super().__init__(message)


class JobNotFound(JobError, PermanentError, LookupError):
    """The vendor does not know the job (404)."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        vendor: str = "",
        code: int | None = 404,
        status: str | None = "NOT_FOUND",
        vendor_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        JobError.__init__(self, message, job_id=job_id)
        self.vendor = vendor
        self.code = code
        self.status = status
        self.vendor_message = vendor_message
        self.retry_after = retry_after


class JobFailed(JobError):
    """The job ended without success (FAILED, CANCELLED or EXPIRED)."""


class JobTimeout(JobError, TimeoutError):
    """Waiting for the job gave up before the job ended; the job itself goes on."""


class JobIdentityMismatch(JobError):
    """The vendor's job carries another submission key than the record that names it.

    Attributes:
        expected: the record's submission key.
        found: the key the vendor reports ('' when the job carries none).
    """

    def __init__(self, message: str, *, job_id: str | None, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message, job_id=job_id)


class SubmissionBusy(JobTimeout):
    """Another process is submitting the same spec and did not finish within the claim's wait."""


class PredictionError(JobferryError):
    """A chunk of prediction instances failed after its retries.

    Attributes:
        chunk_index: which chunk (0-based).
        start, stop: the instances it covered (``instances[start:stop]``).
    """

    def __init__(self, message: str, *, chunk_index: int, start: int, stop: int) -> None:
        self.chunk_index = chunk_index
        self.start = start
        self.stop = stop
        super().__init__(message)
