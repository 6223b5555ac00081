"""What the client raises: the API said no, or the service could not be reached."""

from __future__ import annotations

from breaking_client.models import Problem


class BreakingError(Exception):
    """Base of every error this client raises."""


class ApiError(BreakingError):
    """The API answered with an error; `problem` is its problem+json."""

    def __init__(self, problem: Problem, retry_after: float | None = None) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return self.problem.status


class ServiceUnavailableError(BreakingError):
    """The service could not be reached, or broke the connection before answering."""


def api_error(status: int, reason: str, body: bytes, retry_after: str | None = None) -> ApiError:
    """The error for an HTTP error answer; a body that is not problem+json still reads clearly."""
    try:
        problem = Problem.model_validate_json(body)
    except ValueError:
        text = body.decode(errors="replace").strip()[:200]
        problem = Problem(title=reason or "Error", status=status, detail=text or reason)
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return ApiError(problem, retry_after=delay)
