"""Editor JWTs: HS256 with a shared secret, or RS256/ES256 with keys from the provider's JWKS."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

from service.auth.editor import Editor
from service.config import Settings
from service.problems import Problem

log = logging.getLogger("breaking_push.auth")

_ASYMMETRIC = ("RS256", "ES256")
# Keys are kept this long; an unknown `kid` refetches sooner, but at most once per cooldown.
_JWKS_TTL_SECONDS = 300.0
_JWKS_COOLDOWN_SECONDS = 2.0
_JWKS_TIMEOUT_SECONDS = 5.0
# Clocks of the provider and the nodes may differ a little.
_LEEWAY_SECONDS = 30


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: the shape of a compact JWS."""
    return token.count(".") == 2


def _refused(detail: str) -> Problem:
    return Problem(401, detail, headers={"www-authenticate": 'Bearer error="invalid_token"'})


class _Jwks:
    """The provider's keys by `kid`, fetched without blocking the event loop."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if time.monotonic() - self._fetched_at > _JWKS_TTL_SECONDS:
            await self._refresh(self._fetched_at)
        if kid not in self._keys:
            # A key the provider rotated in since the last fetch.
            await self._refresh(self._fetched_at, cooldown=True)
        found = self._keys.get(kid or "")
        if found is None:
            raise _refused("editor token signed with an unknown key")
        return found

    async def _refresh(self, seen: float, *, cooldown: bool = False) -> None:
        async with self._lock:
            if self._fetched_at != seen:
                return  # another request refreshed while this one waited
            if cooldown and time.monotonic() - self._fetched_at < _JWKS_COOLDOWN_SECONDS:
                return
            try:
                async with httpx.AsyncClient(timeout=_JWKS_TIMEOUT_SECONDS) as client:
                    response = await client.get(self._url)
                    response.raise_for_status()
                    keys = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                log.warning("editor JWKS at %s not fetched: %s", self._url, exc)
                if not self._keys:
                    raise Problem(
                        503,
                        "the identity provider's keys cannot be fetched; retry shortly",
                        headers={"retry-after": "5"},
                    ) from None
                # Keep the keys we have; try the provider again after the next interval.
                self._fetched_at = time.monotonic()
                return
            self._keys = {k.key_id: k for k in keys.keys if k.key_id}
            self._fetched_at = time.monotonic()


class JwtVerifier:
    """Checks signature, `exp`, `iss` and `aud`; the editor is `name` (else `sub`), `regions` scoped."""

    def __init__(
        self, issuer: str, audience: str, secret: str | None, jwks_url: str | None
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._secret = secret
        self._jwks = _Jwks(jwks_url) if jwks_url else None

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        secret = settings.editor_jwt_secret
        if secret is None and settings.editor_jwks_url is None:
            return None
        if not (settings.editor_jwt_issuer and settings.editor_jwt_audience):
            # Settings refuses this already; a Settings built by hand is refused here too.
            raise ValueError("editor JWTs need an issuer and an audience")
        return cls(
            settings.editor_jwt_issuer,
            settings.editor_jwt_audience,
            secret.get_secret_value() if secret else None,
            settings.editor_jwks_url,
        )

    async def verify(self, token: str) -> Editor:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise _refused("the editor token is not a readable JWT") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256" and self._secret is not None:
            key = self._secret
        elif algorithm in _ASYMMETRIC and self._jwks is not None:
            key = await self._jwks.key(header.get("kid"))
        else:
            raise _refused(f"editor tokens signed with {algorithm!r} are not accepted here")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("the editor token has expired") from None
        except jwt.InvalidAudienceError:
            raise _refused("the editor token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise _refused("the editor token comes from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _refused(f"the editor token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise _refused("the editor token's signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise _refused(f"the editor token is not valid: {exc}") from None
        return _editor(claims)


def _editor(claims: dict[str, Any]) -> Editor:
    name = claims.get("name") or claims.get("sub")
    if not isinstance(name, str) or not name:
        raise _refused("the editor token names no editor (no `name` or `sub` claim)")
    regions = claims.get("regions")
    if regions is None:
        return Editor(name)
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise _refused("the editor token's `regions` claim must be a list of region slugs")
    return Editor(name, frozenset(regions))
