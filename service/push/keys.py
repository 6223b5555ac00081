"""The node's VAPID key pair (RFC 8292): one P-256 key, the same on every node of a cluster."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
# A token lives this long; it is re-signed a while before it expires, never per push.
_TOKEN_SECONDS = 12 * 3600
_RENEW_BEFORE_SECONDS = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode base64url (padding optional); raises ValueError on anything else."""
    bare = text.rstrip("=")
    if not _B64URL.fullmatch(bare):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def generate() -> tuple[str, str]:
    """A new pair as (private: base64url raw 32 bytes, public: base64url uncompressed point)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return b64url(private), public_of(key)


def public_of(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


@dataclass
class VapidKeys:
    """Signs the `Authorization: vapid` header, cached per push-service origin."""

    subject: str
    _vapid: Any
    public_key: str
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, private_key: str, subject: str) -> VapidKeys:
        """From the raw private key as web-push tools print it; ValueError if it is not one."""
        raw = unb64url(private_key.strip())
        if len(raw) != 32:
            raise ValueError("the VAPID private key must be 32 bytes, base64url-encoded")
        vapid = Vapid02.from_raw(private_key.strip().encode())
        return cls(subject, vapid, public_of(vapid.private_key))

    def authorization(self, audience: str) -> str:
        """`vapid t=<JWT>,k=<public key>` for a push service's origin."""
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is not None and cached[1] - now > _RENEW_BEFORE_SECONDS:
            return cached[0]
        expires = int(now) + _TOKEN_SECONDS
        claims = {"aud": audience, "sub": self.subject, "exp": expires}
        header: str = self._vapid.sign(claims)["Authorization"]
        # Push-service origins are few (one per browser vendor): the cache stays small.
        self._tokens[audience] = (header, expires)
        return header
