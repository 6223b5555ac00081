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
_TIMEOUT = aiohttp.ClientTimeout(total=10.0, connect=5.0)


class Outcome(Enum):
    SENT = "sent"
    GONE = "gone"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    status: str
    """The last HTTP status, or the transport error's name."""


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
        """Deliver once; 429, 5xx and transport errors are retried after Retry-After or a backoff."""
        status = "none"
        for attempt in range(_ATTEMPTS):
            ttl = message.ttl()
            if ttl <= 0:
                return Result(Outcome.FAILED, "expired")
            headers = {
                "Authorization": self._keys.authorization(origin(target.endpoint)),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": str(ttl),
                "Urgency": message.urgency,
                "Topic": message.topic,
            }
            wait: float | None = None
            assert self._session is not None, "Sender.start() first"
            try:
                async with self._session.post(
                    target.endpoint, data=encrypt(target, message.body), headers=headers
                ) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            else:
                status = str(response.status)
                if 200 <= response.status < 300:
                    return Result(Outcome.SENT, status)
                if response.status in (404, 410):
                    return Result(Outcome.GONE, status)
                if response.status != 429 and response.status < 500:
                    log.warning("push to %s refused: %s", origin(target.endpoint), status)
                    return Result(Outcome.FAILED, status)
                wait = retry_after(response.headers.get("retry-after"))
            if attempt + 1 == _ATTEMPTS:
                break
            if wait is None:
                wait = random.uniform(0, _BACKOFF_S * 2**attempt)
            if wait > min(_MAX_WAIT_S, message.ttl()):
                break
            await asyncio.sleep(wait)
        return Result(Outcome.FAILED, status)
