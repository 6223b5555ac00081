"""Raw HTTP responses for connections taken over below ASGI."""

from __future__ import annotations

from http import HTTPStatus

from service.problems import MEDIA_TYPE, Problem


def http_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """A status line and headers, ending the head."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def problem_response(problem: Problem, extra: list[tuple[str, str]] | None = None) -> bytes:
    """A complete problem+json response that closes the connection."""
    body = problem.body()
    headers = [
        ("content-type", MEDIA_TYPE),
        ("content-length", str(len(body))),
        ("x-content-type-options", "nosniff"),
        ("connection", "close"),
        *problem.headers.items(),
        *(extra or []),
    ]
    return http_head(problem.status, headers) + body
