"""Encrypt (RFC 8291 aes128gcm) and deliver one push, retrying what a push service asks to retry."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import aiohttp
import http_ece
from cryptography.hazmat.primitives.asymmetric import ec

from service.push.keys import VapidKeys, unb64url
from service.push.message import PushMessage
from service.push.models import PushTarget

log = logging.getLogger("breaking_push.push")

_ATTEMPTS = 4
_BACKOFF_S = 0.5
_MAX_WAIT_S = 300.0
_LOG_EVERY_S = 60.0
_TIMEOUT = aiohttp.ClientTimeout(total=10.0, connect=5.0)


class Outcome(Enum):
    SENT = "sent"
    GONE = "gone"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    status: str
    """The last HTTP status, or the transport error's name."""
    wait: float | None = None
    """For RETRY: the seconds the push service asked for in Retry-After."""


def encrypt(target: PushTarget, plaintext: bytes) -> bytes:
    """A fresh sender key per message, as RFC 8291 requires."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        plaintext,
        private_key=sender,
        dh=unb64url(target.p256dh),
        auth_secret=unb64url(target.auth),
        version="aes128gcm",
    )
    return body


def origin(endpoint: str) -> str:
    """The VAPID audience: the push service's scheme, host and port."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if it says anything."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Sender:
    """One HTTP session for every push service; `concurrency` bounds its connections."""

    def __init__(self, keys: VapidKeys, concurrency: int) -> None:
        self._keys = keys
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._logged: dict[tuple[str, int], float] = {}

    def start(self) -> None:
        """Open the session; it belongs to the running loop."""
        connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=_TIMEOUT, skip_auto_headers=("User-Agent",)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, target: PushTarget, message: PushMessage) -> Result:
        """Deliver; 429, 5xx and transport errors are retried after Retry-After or a backoff."""
        result = Result(Outcome.FAILED, "none")
        for attempt in range(_ATTEMPTS):
            if message.ttl() <= 0:
                return Result(Outcome.FAILED, "expired")
            result = await self._post(target, message)
            if result.outcome is not Outcome.RETRY or attempt + 1 == _ATTEMPTS:
                break
            wait = result.wait
            if wait is None:
                wait = random.uniform(0, _BACKOFF_S * 2**attempt)
            if wait > min(_MAX_WAIT_S, message.ttl()):
                break
            await asyncio.sleep(wait)
        if result.outcome is Outcome.RETRY:
            return Result(Outcome.FAILED, result.status)
        return result

    async def _post(self, target: PushTarget, message: PushMessage) -> Result:
        assert self._session is not None, "Sender.start() first"
        audience = origin(target.endpoint)
        headers = {
            "Authorization": self._keys.authorization(audience),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(message.ttl()),
            "Urgency": message.urgency,
            "Topic": message.topic,
        }
        body = encrypt(target, message.body)
        try:
            async with self._session.post(target.endpoint, data=body, headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Result(Outcome.RETRY, type(exc).__name__)
        status = response.status
        if 200 <= status < 300:
            return Result(Outcome.SENT, str(status))
        if status in (404, 410):
            return Result(Outcome.GONE, str(status))
        if status == 429 or status >= 500:
            return Result(
                Outcome.RETRY, str(status), retry_after(response.headers.get("retry-after"))
            )
        self._refused(audience, status)
        return Result(Outcome.FAILED, str(status))

    def _refused(self, audience: str, status: int) -> None:
        """Logged at most once a minute per push service and status: a bad key fails every push."""
        now = time.monotonic()
        if now - self._logged.get((audience, status), -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._logged[(audience, status)] = now
            log.warning("push service %s refuses pushes with %d (not retried)", audience, status)
