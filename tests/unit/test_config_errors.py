"""A node with a bad setting refuses to start and names the variable and what is allowed."""

from __future__ import annotations

import os

import pytest

from service.cli import main


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BREAKING_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BREAKING_EDITOR_TOKENS", "desk:a-long-enough-token")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"BREAKING_HISTORY_SIZE": "5"}, "BREAKING_HISTORY_SIZE=5: must be at least 10"),
        ({"BREAKING_HISTORY_SIZE": "lots"}, "BREAKING_HISTORY_SIZE=lots: must be a whole number"),
        (
            {"BREAKING_LOG_LEVEL": "loud"},
            "BREAKING_LOG_LEVEL=loud: must be one of 'critical', 'error', 'warning', 'info', 'debug' or 'trace'",
        ),
        (
            {"BREAKING_DEFAULT_TTL_SECONDS": "90000", "BREAKING_MAX_TTL_SECONDS": "3600"},
            "BREAKING_DEFAULT_TTL_SECONDS (90000) is above BREAKING_MAX_TTL_SECONDS (3600)",
        ),
        (
            {"BREAKING_EDITOR_TOKENS": "wire:a-long-enough-token@atlantis"},
            "editor 'wire' is scoped to unknown region(s) atlantis; known (BREAKING_REGIONS): africa,",
        ),
        (
            {"BREAKING_EDITOR_TOKENS": "desk:dev-short"},
            "BREAKING_EDITOR_TOKENS=…: the token of editor 'desk' is shorter than 16 characters",
        ),
        (
            {"BREAKING_EDITOR_JWT_SECRET": "x" * 40},
            "editor JWTs need BREAKING_EDITOR_JWT_ISSUER and BREAKING_EDITOR_JWT_AUDIENCE",
        ),
        (
            {"BREAKING_REGION_NAMES": "{north: North}"},
            "BREAKING_REGION_NAMES: must be JSON (Expecting property name",
        ),
        (
            {"BREAKING_EDITOR_TOKENS_FILE": "/nonexistent/editors.txt"},
            "BREAKING_EDITOR_TOKENS_FILE cannot be read",
        ),
        (
            {"BREAKING_REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:26379"},
            "Sentinel needs both BREAKING_REDIS_SENTINELS (host:port,…) and "
            "BREAKING_REDIS_SENTINEL_MASTER",
        ),
        (
            {"BREAKING_REDIS_SENTINEL_MASTER": "mymaster"},
            "Sentinel needs both BREAKING_REDIS_SENTINELS",
        ),
        (
            {"BREAKING_REDIS_SENTINELS": "sentinel-a", "BREAKING_REDIS_SENTINEL_MASTER": "m"},
            "BREAKING_REDIS_SENTINELS=sentinel-a: each Sentinel must be host:port",
        ),
        (
            {
                "BREAKING_REDIS_SENTINELS": "sentinel-a:26379",
                "BREAKING_REDIS_SENTINEL_MASTER": "mymaster",
                "BREAKING_REDIS_URL": "unix:///run/redis.sock",
            },
            "BREAKING_REDIS_URL gives only the database, password and TLS options",
        ),
        (
            {"BREAKING_REDIS_MIN_REPLICAS_ACK": "1"},
            "BREAKING_REDIS_MIN_REPLICAS_ACK needs Redis",
        ),
        (
            {"BREAKING_REDIS_MIN_REPLICAS_ACK_TIMEOUT_MS": "0"},
            "BREAKING_REDIS_MIN_REPLICAS_ACK_TIMEOUT_MS=0: must be at least 1",
        ),
        (
            {"BREAKING_VAPID_PRIVATE_KEY": "dev-short-but-secret"},
            "BREAKING_VAPID_PRIVATE_KEY=…: must be the raw 32-byte P-256 private key",
        ),
        (
            {"BREAKING_REDIS_CLUSTER": "true"},
            "BREAKING_REDIS_CLUSTER needs BREAKING_REDIS_URL to name one node of the cluster",
        ),
        (
            {"BREAKING_REDIS_CLUSTER": "true", "BREAKING_REDIS_URL": "unix:///run/redis.sock"},
            "BREAKING_REDIS_CLUSTER needs BREAKING_REDIS_URL to name one node of the cluster",
        ),
        (
            {
                "BREAKING_REDIS_CLUSTER": "true",
                "BREAKING_REDIS_URL": "redis://10.0.0.1:6379",
                "BREAKING_REDIS_SENTINELS": "sentinel-a:26379",
                "BREAKING_REDIS_SENTINEL_MASTER": "mymaster",
            },
            "BREAKING_REDIS_CLUSTER and BREAKING_REDIS_SENTINELS exclude each other",
        ),
    ],
)
def test_bad_setting_is_named_by_its_variable(
    variables: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "pydantic.dev" not in err
    assert "dev-short" not in err
    for field in ("history_size", "log_level", "default_ttl_seconds"):
        assert f"\n{field}" not in err


def test_dev_token_is_printed_ready_to_export(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BREAKING_EDITOR_TOKENS")
    monkeypatch.setenv("BREAKING_HISTORY_SIZE", "1")  # stop before serving
    assert main(["serve"]) == 2
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("export"))
    token = line.removeprefix("export TOKEN=")
    assert token.startswith("dev-")
    assert len(token) >= 16
