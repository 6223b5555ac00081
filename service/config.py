"""Settings: read once from `BREAKING_*` variables into one object that is passed down."""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

ENV_PREFIX = "BREAKING_"
# Shorter tokens can be guessed by a patient attacker: refused at start and on every re-read.
MIN_TOKEN_LENGTH = 16
# PyJWT warns below 32 bytes for HS256 (RFC 7518 section 3.2 wants the hash's size).
MIN_JWT_SECRET_LENGTH = 32

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


def _split_parsed(value: object, parse: Callable[[list[str]], object]) -> object:
    """A comma-separated variable's items as `parse` reads them; a parsed value as it is."""
    items = _split(value)
    if isinstance(items, list) and all(isinstance(i, str) for i in items):
        return parse(items)
    return items


def parse_editor_tokens(items: list[str]) -> list[EditorToken]:
    """Parse `name:token` or `name:token@region+region` items; the token is never echoed."""
    tokens = []
    for item in items:
        name, sep, rest = item.partition(":")
        secret, _, scope = rest.partition("@")
        if not sep or not name or not secret:
            raise ValueError(
                "each editor token must look like name:token or name:token@region+region"
            )
        if len(secret) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the token of editor {name!r} is shorter than {MIN_TOKEN_LENGTH} characters"
            )
        regions = frozenset(r for r in scope.split("+") if r) if scope else None
        tokens.append(EditorToken(name=name, token=SecretStr(secret), regions=regions))
    return tokens


def check_token_set(tokens: list[EditorToken], regions: list[str]) -> None:
    """Refuse a token set whose tokens repeat or whose scopes name regions this node lacks."""
    secrets = [t.token.get_secret_value() for t in tokens]
    if len(set(secrets)) != len(secrets):
        raise ValueError("two editors share one token")
    for token in tokens:
        unknown = sorted((token.regions or frozenset()) - set(regions))
        if unknown:
            raise ValueError(
                f"editor {token.name!r} is scoped to unknown region(s) {', '.join(unknown)}; "
                f"known (BREAKING_REGIONS): {', '.join(regions)}"
            )


def read_token_file(path: Path, regions: list[str]) -> list[EditorToken]:
    """The tokens of a `BREAKING_EDITOR_TOKENS_FILE`: one `name:token[@regions]` a line, # comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    items = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    tokens = parse_editor_tokens(items)
    check_token_set(tokens, regions)
    return tokens


MASK = "***"
# Query options that carry a credential (redis-py passes unknown ones on as keywords).
_SECRET_OPTION = re.compile(r"pass|secret|token|auth|credential", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password and credential options masked: safe to log or show.

    Reads as warily as a careless URL deserves: the password runs to the last `@`, so one
    with an unescaped `/`, `?` or `#` is still masked whole.
    """
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    userinfo, at, location = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        rest = f"{user}:{MASK}@{location}"
    path, question, query = rest.partition("?")
    options = []
    for option in query.split("&"):
        name, equals, value = option.partition("=")
        secret = equals and value and _SECRET_OPTION.search(name)
        options.append(f"{name}={MASK}" if secret else option)
    return f"{scheme}{sep}{path}{question}{'&'.join(options)}"


def parse_sentinels(items: list[str]) -> list[tuple[str, int]]:
    """`host:port` items (`[v6]:port` for an IPv6 address) as (host, port) pairs."""
    addresses = []
    for item in items:
        host, colon, port = item.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"each Sentinel must be host:port, e.g. redis-a:26379 (got {item!r})")
        addresses.append((host, int(port)))
    return addresses


class Settings(BaseSettings):
    """Everything an operator can set; docs/CONFIGURATION.md lists each variable."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    redis_url: str | None = Field(None, description="Redis URL; absent = embedded memory broker")
    redis_cluster: bool = Field(
        False, description="BREAKING_REDIS_URL names one node of a Redis Cluster (Redis 7+)"
    )
    redis_sentinels: Annotated[list[tuple[str, int]], NoDecode] = Field(
        default_factory=list, description="host:port of each Sentinel that watches the primary"
    )
    redis_sentinel_master: str | None = Field(
        None, min_length=1, description="the name the Sentinels monitor the primary under"
    )
    redis_sentinel_password: SecretStr | None = Field(
        None, description="the Sentinels' own password (requirepass), if they have one"
    )
    redis_min_replicas_ack: int = Field(
        0, ge=0, description="replicas that must hold a write before it is answered 201"
    )
    redis_min_replicas_ack_timeout_ms: int = Field(
        500, ge=1, le=10_000, description="how long a publish waits for those replicas"
    )
    editor_tokens: Annotated[list[EditorToken], NoDecode] = Field(default_factory=list)
    editor_tokens_file: Path | None = Field(
        None, description="one name:token[@regions] a line, re-read when it changes"
    )
    editor_jwks_url: str | None = Field(
        None, pattern=r"^https?://", description="the identity provider's JWKS (RS256/ES256)"
    )
    editor_jwt_secret: SecretStr | None = Field(None, description="shared HS256 secret")
    editor_jwt_issuer: str | None = Field(None, description="required `iss` of editor JWTs")
    editor_jwt_audience: str | None = Field(None, description="required `aud` of editor JWTs")
    region_names: dict[str, dict[str, str]] = Field(
        default_factory=dict, description='JSON: {"slug": {"en": "…", "ar": "…", "es": "…"}}'
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    regions: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_REGIONS))
    history_size: int = Field(10_000, ge=10, description="events kept for resume")
    audit_size: int = Field(
        100_000, ge=10, description="audit entries kept (who published, corrected, retracted)"
    )
    default_ttl_seconds: int = Field(6 * 3600, ge=1)
    max_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)
    heartbeat_seconds: float = Field(15.0, gt=0)
    # Four samples a second. Waking an idle loop is dear on a VM (70-150 us a wake on the bench
    # machine): every 10 ms costs 0.7% of a core there and adds 2-10% to the CPU per delivery the
    # bench measures at 4,000 subscribers; every 250 ms, well under 1%. The bench's tick-lag run
    # sets 10 ms, so that any tick over 20 ms shows as at least 10 ms late.
    loop_lag_probe_seconds: float = Field(
        0.25, ge=0, description="interval of the loop-lag probe's timer; 0 turns it off"
    )
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
    redis_ping_seconds: float = Field(
        5.0, gt=0, description="a silent Redis subscription is pinged, then dropped, after this"
    )
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

    @field_validator(
        "allowed_origins", "regions", "allowed_hosts", "trusted_proxies", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinels(cls, value: object) -> object:
        return _split_parsed(value, parse_sentinels)

    @property
    def uses_redis(self) -> bool:
        """Whether the node runs on Redis (a URL, or Sentinels that name the primary)."""
        return bool(self.redis_url or self.redis_sentinels)

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
        return _split_parsed(value, parse_editor_tokens)

    @field_validator("editor_jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_JWT_SECRET_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Checks across variables: each message names the variables to change."""
        if self.default_ttl_seconds > self.max_ttl_seconds:
            raise ValueError(
                f"BREAKING_DEFAULT_TTL_SECONDS ({self.default_ttl_seconds}) is above "
                f"BREAKING_MAX_TTL_SECONDS ({self.max_ttl_seconds})"
            )
        check_token_set(self.editor_tokens, self.regions)
        self._check_redis()
        if self.editor_tokens_file is not None:
            try:
                read_token_file(self.editor_tokens_file, self.regions)
            except OSError as exc:
                raise ValueError(f"BREAKING_EDITOR_TOKENS_FILE cannot be read: {exc}") from None
            except ValueError as exc:
                raise ValueError(f"BREAKING_EDITOR_TOKENS_FILE: {exc}") from None
        uses_jwt = self.editor_jwks_url is not None or self.editor_jwt_secret is not None
        if uses_jwt and not (self.editor_jwt_issuer and self.editor_jwt_audience):
            raise ValueError(
                "editor JWTs need BREAKING_EDITOR_JWT_ISSUER and BREAKING_EDITOR_JWT_AUDIENCE, "
                "so a token minted for another service is refused"
            )
        return self

    def _check_redis(self) -> None:
        if self.redis_cluster and not (self.redis_url or "").startswith(("redis://", "rediss://")):
            raise ValueError(
                "BREAKING_REDIS_CLUSTER needs BREAKING_REDIS_URL to name one node of the cluster "
                "as redis://host:port or rediss://host:port"
            )
        if self.redis_cluster and self.redis_sentinels:
            raise ValueError(
                "BREAKING_REDIS_CLUSTER and BREAKING_REDIS_SENTINELS exclude each other: a "
                "cluster fails over by itself, Sentinel watches one primary and its replicas"
            )
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise ValueError(
                "Sentinel needs both BREAKING_REDIS_SENTINELS (host:port,…) and "
                "BREAKING_REDIS_SENTINEL_MASTER (the name they monitor the primary under)"
            )
        if self.redis_sentinels and self.redis_url and self.redis_url.startswith("unix:"):
            raise ValueError(
                "with BREAKING_REDIS_SENTINELS, BREAKING_REDIS_URL gives only the database, "
                "password and TLS options (redis:// or rediss://), not a unix socket"
            )
        if self.redis_min_replicas_ack and not self.uses_redis:
            raise ValueError(
                "BREAKING_REDIS_MIN_REPLICAS_ACK needs Redis (BREAKING_REDIS_URL or "
                "BREAKING_REDIS_SENTINELS): the embedded broker has no replicas"
            )


def describe_redis(settings: Settings) -> str:
    """Where the node's Redis is, credentials masked: for the start-up line and logs."""
    url = redact_url(settings.redis_url) if settings.redis_url else None
    if not settings.redis_sentinels:
        return f"Redis at {url}"
    sentinels = ",".join(
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        for host, port in settings.redis_sentinels
    )
    options = f" ({url})" if url else ""
    return f"Redis primary {settings.redis_sentinel_master!r} via Sentinels {sentinels}{options}"


def describe_errors(error: ValidationError | SettingsError) -> list[str]:
    """One line per bad setting, named by its variable and saying what is allowed."""
    if isinstance(error, SettingsError):
        # Raised before validation, for a variable that must hold JSON and does not.
        field = re.search(r'field "(\w+)"', str(error))
        name = f"{ENV_PREFIX}{field[1].upper()}" if field else "a BREAKING_ variable"
        return [f"{name}: must be JSON ({error.__cause__ or error})"]
    lines = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        variable = f"{ENV_PREFIX}{str(loc[0]).upper()}" if loc else None
        message = _plain(item)
        if variable is None:
            lines.append(message)
        else:
            lines.append(f"{variable}={_shown(variable, item.get('input'))}: {message}")
    return lines


_SECRET_VARIABLE_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PRIVATE_KEY")


def _shown(variable: str, value: Any) -> str:
    if any(word in variable for word in _SECRET_VARIABLE_WORDS) or not isinstance(value, str | int):
        return "…"
    # As the operator would write it in a shell.
    return shlex.quote(value) if isinstance(value, str) else str(value)


def _plain(item: Any) -> str:
    """Pydantic's message, reworded for an operator where the wording is technical."""
    ctx = item.get("ctx") or {}
    error_type = item["type"]
    if error_type in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"must be {'at least' if error_type.endswith('equal') else 'above'} {bound}"
    if error_type in ("int_parsing", "int_from_float"):
        return "must be a whole number"
    if error_type == "float_parsing":
        return "must be a number"
    if error_type == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if error_type == "string_pattern_mismatch":
        return "must be an http:// or https:// URL"
    return str(item["msg"]).removeprefix("Value error, ")
