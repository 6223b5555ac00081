"""A local push service standing in for a browser vendor's: it checks VAPID, decrypts, records.

Endpoints are `/push/<name>`; a `Browser` holds the keys of one subscription, as the browser
would. A push counts as accepted only once its 201 went out to a connected sender: a sender
that dies while a response is held never had its push accepted, as with a real service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

# The longest VAPID token life RFC 8292 allows.
_MAX_TOKEN_S = 24 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's push subscription: its endpoint and the keys only it holds."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def name(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def subscription(self) -> dict[str, Any]:
        """What `PushSubscription.toJSON()` gives the page."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth)
        message: dict[str, Any] = json.loads(plain)
        return message


@dataclass
class Push:
    """One accepted push, decrypted."""

    endpoint: str
    message: dict[str, Any]
    headers: dict[str, str]
    at: float


def verify_vapid(authorization: str, public_key: str, audience: str) -> dict[str, Any]:
    """Check `vapid t=<JWT>,k=<key>` as a push service does; raises ValueError if it is wrong."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"scheme {scheme!r} is not vapid")
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    if parts.get("k") != public_key:
        raise ValueError("k is not the node's public key")
    head, claims_b64, signature = parts["t"].split(".")
    header = json.loads(unb64url(head))
    if header.get("alg") != "ES256":
        raise ValueError(f"alg {header.get('alg')!r} is not ES256")
    raw = unb64url(signature)
    if len(raw) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    der = utils.encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    key.verify(der, f"{head}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    if claims.get("aud") != audience:
        raise ValueError(f"aud {claims.get('aud')!r} is not {audience!r}")
    now = time.time()
    if not now < claims.get("exp", 0) <= now + _MAX_TOKEN_S:
        raise ValueError(f"exp {claims.get('exp')} is not within 24 hours from now")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise ValueError("sub is not a mailto: or https: contact")
    return claims


class PushService:
    """The loopback HTTP server; `answers` scripts a status per endpoint name."""

    def __init__(self, public_key: str) -> None:
        self.public_key = public_key
        self.browsers: dict[str, Browser] = {}
        self.accepted: list[Push] = []
        self.attempts: dict[str, list[float]] = {}
        self.refused: list[str] = []
        # name -> list of (status, headers) answered in turn before accepting with 201.
        self.answers: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.hang: set[str] = set()
        """Names whose pushes are held until `release()` (or the sender disconnects)."""
        self._verified: dict[str, float] = {}
        """Authorization headers already checked, with their `exp`, as a push service caches them."""
        self.hang_after: int | None = None
        """Hold every push once this many were accepted."""
        self.held = 0
        self.aborted = 0
        self._release = asyncio.Event()
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def browser(self, name: str) -> Browser:
        browser = Browser(f"{self.origin}/push/{name}")
        self.browsers[name] = browser
        return browser

    def received(self, name: str) -> list[Push]:
        return [p for p in self.accepted if p.endpoint == name]

    def release(self) -> None:
        self.hang.clear()
        self.hang_after = None
        self._release.set()

    async def wait(self, predicate: Any, within: float = 10) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            try:
                while await self._request(reader, writer):
                    pass
            finally:
                self._writers.discard(writer)
                writer.close()

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _, path, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        name = path.rsplit("/", 1)[1]
        self.attempts.setdefault(name, []).append(time.monotonic())
        status, extra = self._answer(name, headers, body)
        held = status == 201 and (name in self.hang or self._hang_all())
        if held and not await self._held(reader):
            self.aborted += 1
            await self._notify()
            return False
        if status == 201:
            message = self.browsers[name].decrypt(body)
            self.accepted.append(Push(name, message, headers, time.monotonic()))
        reason = {201: "Created", 410: "Gone", 429: "Too Many Requests"}.get(status, "Status")
        response = f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n"
        response += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
        writer.write(response.encode())
        await writer.drain()
        await self._notify()
        return True

    def _hang_all(self) -> bool:
        return self.hang_after is not None and len(self.accepted) >= self.hang_after

    async def _held(self, reader: asyncio.StreamReader) -> bool:
        """Hold the answer until released; False if the sender went away meanwhile."""
        self.held += 1
        await self._notify()
        gone = asyncio.ensure_future(reader.read(1))
        released = asyncio.ensure_future(self._release.wait())
        try:
            await asyncio.wait({gone, released}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            self.held -= 1
        if gone.done():
            return False
        gone.cancel()
        return True

    def _answer(
        self, name: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        if name not in self.browsers:
            return 404, {}
        try:
            authorization = headers.get("authorization", "")
            if self._verified.get(authorization, 0) <= time.time():
                claims = verify_vapid(authorization, self.public_key, self.origin)
                self._verified[authorization] = claims["exp"]
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"content-encoding {headers.get('content-encoding')!r}")
            int(headers["ttl"])
        except Exception as exc:
            self.refused.append(f"{name}: {exc!r}")
            return 403, {}
        scripted = self.answers.get(name)
        if scripted:
            return scripted.pop(0)
        return 201, {"location": f"{self.origin}/message/{len(self.accepted)}"}


@contextlib.asynccontextmanager
async def push_service(public_key: str) -> AsyncIterator[PushService]:
    service = PushService(public_key)
    await service.start()
    try:
        yield service
    finally:
        await service.close()
