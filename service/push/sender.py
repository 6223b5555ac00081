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

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from service.push.keys import VapidKeys, unb64url
from service.push.message import PushMessage
from service.push.models import PushTarget

log = logging.getLogger("breaking_push.push")

_ATTEMPTS = 4
_BACKOFF_S = 0.5
_MAX_WAIT_S = 300.0
_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


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
    """One HTTP client for every push service; `concurrency` bounds the connections."""

    def __init__(self, keys: VapidKeys, concurrency: int) -> None:
        self._keys = keys
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(limits=limits, timeout=_TIMEOUT)

    async def close(self) -> None:
        await self._client.aclose()

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
            try:
                response = await self._client.post(
                    target.endpoint, content=encrypt(target, message.body), headers=headers
                )
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            else:
                status = str(response.status_code)
                if response.is_success:
                    return Result(Outcome.SENT, status)
                if response.status_code in (404, 410):
                    return Result(Outcome.GONE, status)
                if response.status_code != 429 and response.status_code < 500:
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
