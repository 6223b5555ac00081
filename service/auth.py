"""Editor bearer tokens, compared in constant time; a token's value is never logged."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.requests import Request

from service.config import EditorToken
from service.problems import Problem


def authenticate(request: Request, tokens: Sequence[EditorToken]) -> EditorToken:
    """The editor behind the request's `Authorization: Bearer` token, or 401."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Problem(
            401,
            "send `Authorization: Bearer <editor token>`",
            headers={"www-authenticate": "Bearer"},
        )
    candidate = presented.strip().encode()
    match = None
    # Compare against every token so the time taken does not tell which one nearly matched.
    for editor in tokens:
        if hmac.compare_digest(candidate, editor.token.get_secret_value().encode()):
            match = editor
    if match is None:
        raise Problem(
            401,
            "unknown editor token",
            headers={"www-authenticate": 'Bearer error="invalid_token"'},
        )
    return match


def authorize(editor: EditorToken, regions: Sequence[str]) -> None:
    """403 unless the editor may publish to every one of `regions`."""
    if not editor.allows(tuple(regions)):
        outside = sorted(set(regions) - (editor.regions or frozenset()))
        raise Problem(403, f"editor {editor.name!r} may not publish to: {', '.join(outside)}")
