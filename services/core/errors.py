"""Errors the domain raises, each knowing how a caller should see it.

AtendeError
├── NotFound                 404: unknown tenant, connection, dead letter
├── Unauthorized             401: wrong webhook secret (never says why)
├── Conflict                 409: an idempotency key reused for a different request
├── Unavailable              503: done in part; the rest needs Redis — repeat the request
├── TooManyRequests          429: a source that failed authentication too often
├── InvalidInput             400/422: a body or a file that cannot be accepted
│   └── ManifestError        a tenant file with the field path that is wrong
└── DependencyError          a remote system failed (Gemini, Whaticket)
    ├── TransientError       worth retrying later
    └── PermanentError       retrying will not help: dead-letter it
"""

from __future__ import annotations


class AtendeError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)
        self.message = message or self.code


class NotFound(AtendeError):
    status_code = 404
    code = "not_found"


class Unauthorized(AtendeError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AtendeError):
    """Signed in, but this role or tenant may not do it."""

    status_code = 403
    code = "forbidden"


class Conflict(AtendeError):
    status_code = 409
    code = "conflict"


class Unavailable(AtendeError):
    status_code = 503
    code = "unavailable"


class TooManyRequests(AtendeError):
    """Only for sources that keep failing authentication: real traffic is never refused."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed requests; retry later")
        self.retry_after = retry_after


class InvalidInput(AtendeError):
    status_code = 400
    code = "invalid_input"


class SchemaViolation(InvalidInput):
    status_code = 422
    code = "schema_violation"


class ManifestError(InvalidInput):
    code = "invalid_manifest"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DependencyError(AtendeError):
    """A remote dependency failed; ``error_class`` is a stable, secret-free label."""

    status_code = 502
    code = "dependency_error"

    def __init__(
        self,
        error_class: str,
        message: str = "",
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message or error_class)
        self.error_class = error_class
        self.retry_after = retry_after
        # True when the remote side may have acted anyway (a send that timed out after the
        # request went out): a retry could duplicate it.
        self.ambiguous = ambiguous


class TransientError(DependencyError):
    code = "transient_dependency_error"


class PermanentError(DependencyError):
    code = "permanent_dependency_error"
