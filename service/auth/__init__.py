"""Who an editor is: a static bearer token or a JWT from the newsroom's identity provider."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.requests import Request

from service.auth.editor import Editor
from service.auth.jwts import JwtVerifier, looks_like_jwt
from service.auth.static import StaticTokens
from service.config import Settings
from service.problems import Problem

__all__ = ["Editor", "Editors", "authorize"]

log = logging.getLogger("breaking_push.auth")


class Editors:
    """Authenticates requests; static tokens and JWT keys are re-read without a restart."""

    def __init__(self, settings: Settings) -> None:
        self._static = StaticTokens(settings)
        self._jwt = JwtVerifier.from_settings(settings)

    def reload(self) -> None:
        """Re-read the token file now (the node's SIGHUP)."""
        self._static.reload()

    async def authenticate(self, request: Request) -> Editor:
        """The editor behind the request's `Authorization: Bearer` token, or a 401 problem."""
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        token = presented.strip()
        if scheme.lower() != "bearer" or not token:
            raise Problem(
                401,
                "send `Authorization: Bearer <editor token>`",
                headers={"www-authenticate": "Bearer"},
            )
        editor = self._static.match(token)
        if editor is not None:
            return editor
        if self._jwt is not None and looks_like_jwt(token):
            return await self._jwt.verify(token)
        raise Problem(
            401,
            "unknown editor token",
            headers={"www-authenticate": 'Bearer error="invalid_token"'},
        )


def authorize(editor: Editor, regions: Sequence[str]) -> None:
    """403 unless the editor may publish to every one of `regions`."""
    if not editor.allows(tuple(regions)):
        outside = sorted(set(regions) - (editor.regions or frozenset()))
        raise Problem(403, f"editor {editor.name!r} may not publish to: {', '.join(outside)}")
