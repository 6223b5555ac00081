"""Settings: read once from `BREAKING_*` variables into one object that is passed down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator
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


MIN_TOKEN_CHARS = 16


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
        if len(secret) < MIN_TOKEN_CHARS:
            # A short static token falls to guessing long before the sign-in throttle matters.
            raise ValueError(
                f"editor {name!r}: tokens must be at least {MIN_TOKEN_CHARS} characters"
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
    max_connections: int | None = Field(
        None, ge=1, description="open connections per node; unset = the descriptor limit less 128"
    )
    max_connections_per_ip: int = Field(256, ge=1, description="open connections per client")
    reserved_connections: int = Field(
        32, ge=0, description="connections subscribers may not take: the API's and probes'"
    )
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="request line and headers")
    max_headers: int = Field(100, ge=8)
    head_timeout_seconds: float = Field(10.0, gt=0)
    signin_failures_per_minute: int = Field(
        10, ge=1, description="failed sign-ins per client address before 429"
    )
    key_prefix: str = Field("breaking", description="prefix of every Redis key")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    @field_validator(
        "allowed_origins", "regions", "allowed_hosts", "trusted_proxies", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

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
