"""The push routes' request bodies, validated at the edge, and what the node keeps of them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from service.events import PRIORITY_RANK
from service.filters import Filter
from service.models import Category, Language, Priority
from service.push.keys import unb64url

_MAX_ENDPOINT = 2048


def _endpoint(value: str, info: ValidationInfo) -> str:
    parts = urlsplit(value)
    allow_http = bool((info.context or {}).get("allow_http"))
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = "an https" if not allow_http else "an http(s)"
        raise ValueError(f"must be {wanted} URL of the browser's push service")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("must not carry credentials or a fragment")
    return value


def _decoded(value: str) -> bytes:
    try:
        return unb64url(value)
    except ValueError:
        raise ValueError("must be base64url") from None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SubscriptionKeys(BaseModel):
    """The browser's encryption keys: P-256 point (65 bytes) and auth secret (16 bytes)."""

    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(max_length=128)
    auth: str = Field(max_length=64)

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        raw = _decoded(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("must be an uncompressed P-256 point (65 bytes)")
        return value

    @field_validator("auth")
    @classmethod
    def _secret(cls, value: str) -> str:
        if len(_decoded(value)) != 16:
            raise ValueError("must be 16 bytes")
        return value


class PushSubscriptionIn(BaseModel):
    """`PushSubscription.toJSON()` as the browser gives it."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(min_length=8, max_length=_MAX_ENDPOINT)
    keys: SubscriptionKeys
    expirationTime: float | None = None  # noqa: N815 (the browser's own field name)

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str, info: ValidationInfo) -> str:
        return _endpoint(value, info)


class SubscribeIn(_Body):
    """`POST /v1/push/subscriptions`: the subscription and the filters it follows."""

    subscription: PushSubscriptionIn
    regions: list[str] | None = Field(None, max_length=16, description="absent = every region")
    language: Language | None = None
    category: Category | None = None
    priority: Priority = Field("flash", description="minimum priority that notifies")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        allowed: list[str] = (info.context or {}).get("regions", [])
        unknown = [region for region in value if region not in allowed]
        if unknown:
            raise ValueError(f"unknown region(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
        return sorted(set(value)) or None


class UnsubscribeIn(_Body):
    """`DELETE /v1/push/subscriptions`: the endpoint to forget."""

    endpoint: str = Field(min_length=8, max_length=_MAX_ENDPOINT)


class PushKey(BaseModel):
    """The node's VAPID public key, for `pushManager.subscribe({applicationServerKey})`."""

    public_key: str = Field(description="base64url uncompressed P-256 point")


class PushSubscriptionOut(BaseModel):
    """What the node stored: the endpoint and the filters, nothing about the reader."""

    endpoint: str
    regions: list[str] | None
    language: str | None
    category: str | None
    priority: Priority


@dataclass(frozen=True, slots=True)
class PushTarget:
    """One stored push subscription: where to send, how to encrypt, what it follows."""

    endpoint: str
    p256dh: str
    auth: str
    filter: Filter

    @property
    def id(self) -> str:
        """Stable across re-subscribes: the endpoint names the browser's subscription."""
        return target_id(self.endpoint)

    @classmethod
    def of(cls, body: SubscribeIn) -> PushTarget:
        sub = body.subscription
        flt = Filter(
            regions=frozenset(body.regions) if body.regions else None,
            language=body.language,
            category=body.category,
            min_priority=PRIORITY_RANK[body.priority],
        )
        return cls(sub.endpoint, sub.keys.p256dh, sub.keys.auth, flt)

    def encode(self) -> bytes:
        f = self.filter
        return orjson.dumps(
            {
                "e": self.endpoint,
                "k": self.p256dh,
                "a": self.auth,
                "r": sorted(f.regions) if f.regions is not None else None,
                "l": f.language,
                "c": f.category,
                "p": f.min_priority,
            }
        )

    @classmethod
    def decode(cls, stored: bytes | str) -> PushTarget:
        data: dict[str, Any] = orjson.loads(stored)
        regions = data["r"]
        flt = Filter(
            regions=frozenset(regions) if regions is not None else None,
            language=data["l"],
            category=data["c"],
            min_priority=data["p"],
        )
        return cls(data["e"], data["k"], data["a"], flt)

    def describe(self) -> dict[str, Any]:
        described = self.filter.describe()
        return {
            "endpoint": self.endpoint,
            "regions": described["region"],
            "language": described["language"],
            "category": described["category"],
            "priority": described["priority"],
        }


def target_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]
