"""Settings: read once from `BREAKING_*` variables into one object that is passed down."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_REGIONS = (
    "africa",
    "asia",
    "asia-pacific",
    "europe",
    "latin-america",
    "mena",
    "palestine",
    "us-canada",
)


@dataclass(frozen=True, slots=True)
class EditorToken:
    """One editor's bearer token; `regions` None means every region."""

    name: str
    token: SecretStr
    regions: frozenset[str] | None = None

    def allows(self, regions: list[str] | tuple[str, ...]) -> bool:
        return self.regions is None or all(region in self.regions for region in regions)


def _split(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def parse_editor_tokens(items: list[str]) -> list[EditorToken]:
    """Parse `name:token` or `name:token@region+region` items."""
    tokens = []
    for item in items:
        name, sep, rest = item.partition(":")
        secret, _, scope = rest.partition("@")
        if not sep or not name or not secret:
            raise ValueError(
                "each editor token must look like name:token or name:token@region+region"
            )
        regions = frozenset(r for r in scope.split("+") if r) if scope else None
        tokens.append(EditorToken(name=name, token=SecretStr(secret), regions=regions))
    return tokens


class Settings(BaseSettings):
    """Everything an operator can set; docs/CONFIGURATION.md lists each variable."""

    model_config = SettingsConfigDict(env_prefix="BREAKING_", extra="ignore")

    redis_url: str | None = Field(None, description="Redis URL; absent = embedded memory broker")
    editor_tokens: Annotated[list[EditorToken], NoDecode] = Field(default_factory=list)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    regions: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_REGIONS))
    history_size: int = Field(10_000, ge=10, description="events kept for resume")
    default_ttl_seconds: int = Field(6 * 3600, ge=1)
    max_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)
    heartbeat_seconds: float = Field(15.0, gt=0)
    sse_retry_ms: int = Field(2000, ge=100)
    max_body_bytes: int = Field(16 * 1024, ge=1024)
    subscriber_buffer_bytes: int = Field(256 * 1024, ge=4096)
    replay_cache_size: int = Field(
        2048, ge=0, description="recent events a node replays from memory"
    )
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=60)
    publish_rate_per_minute: int = Field(120, ge=1, description="per editor token")
    key_prefix: str = Field("breaking", description="prefix of every Redis key")
    vapid_private_key: SecretStr | None = Field(
        None, description="Web Push: P-256 private key, base64url raw 32 bytes; absent = push off"
    )
    vapid_subject: str | None = Field(None, description="Web Push contact: mailto: or https:")
    push_allow_http: bool = Field(False, description="accept http:// push endpoints (dev, tests)")
    push_concurrency: int = Field(64, ge=1, le=1024, description="pushes in flight per node")
    push_subscribe_rate_per_minute: int = Field(30, ge=1, description="push route calls per IP")
    push_claim_seconds: float = Field(
        30.0, gt=0, description="a node silent this long on a push job loses it to another"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    @field_validator("allowed_origins", "regions", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("vapid_private_key")
    @classmethod
    def _raw_p256(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value().strip() if value is not None else ""
        if value is None or not text:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ValueError(
                "must be the raw 32-byte P-256 private key, base64url (`breaking-push vapid-keys`)"
            )
        return SecretStr(text)

    @field_validator("vapid_subject")
    @classmethod
    def _contact(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")
        return value

    @field_validator("editor_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> object:
        items = _split(value)
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return parse_editor_tokens(items)
        return items

    @field_validator("editor_tokens")
    @classmethod
    def _unique_tokens(cls, value: list[EditorToken]) -> list[EditorToken]:
        secrets = [t.token.get_secret_value() for t in value]
        if len(set(secrets)) != len(secrets):
            raise ValueError("two editors share one token")
        return value
