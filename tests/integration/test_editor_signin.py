"""Editor sign-in: JWTs from a local identity provider (JWKS and HS256) and a token file rotated live."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.processes import ServiceProcess, service_process

ISSUER = "https://id.news.example"
AUDIENCE = "breaking-push"
SECRET = "a-shared-hs256-secret-of-32-chars-or-more"
PROBLEM = "application/problem+json"


class _Provider:
    """A tiny identity provider: its JWKS on 127.0.0.1, keys the test makes and rotates."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                jwks = {"keys": [provider.public_jwk(kid) for kid in list(provider.keys)]}
                body = json.dumps(jwks).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_rsa(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def add_ec(self, kid: str) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = key
        return key

    def public_jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        algorithm = (
            jwt.algorithms.RSAAlgorithm
            if isinstance(key, rsa.RSAPrivateKey)
            else jwt.algorithms.ECAlgorithm
        )
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "use": "sig"}


@pytest.fixture(scope="module")
def provider() -> Iterator[_Provider]:
    idp = _Provider()
    idp.add_rsa("rsa-1")
    idp.add_ec("ec-1")
    idp.thread.start()
    try:
        yield idp
    finally:
        idp.server.shutdown()
        idp.server.server_close()


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "editors.txt"
    path.write_text("# the night desk\nnight:night-desk-token-0001@europe\n")
    return path


@pytest.fixture(scope="module")
def signin_node(provider: _Provider, token_file: Path) -> Iterator[ServiceProcess]:
    env = {
        "BREAKING_EDITOR_JWKS_URL": provider.url,
        "BREAKING_EDITOR_JWT_SECRET": SECRET,
        "BREAKING_EDITOR_JWT_ISSUER": ISSUER,
        "BREAKING_EDITOR_JWT_AUDIENCE": AUDIENCE,
        "BREAKING_EDITOR_TOKENS_FILE": str(token_file),
    }
    with service_process(env=env) as node:
        yield node


def _claims(**overrides: Any) -> dict[str, Any]:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1001", "exp": int(time.time()) + 600}
    return {k: v for k, v in {**claims, **overrides}.items() if v is not None}


def _rs256(provider: _Provider, kid: str = "rsa-1", **claims: Any) -> str:
    return jwt.encode(
        _claims(**claims), provider.keys[kid], algorithm="RS256", headers={"kid": kid}
    )


def _post(node: ServiceProcess, token: str, regions: list[str] | None = None) -> httpx.Response:
    body = {
        "headline": "Signed-in editors publish",
        "regions": regions or ["mena"],
        "language": "en",
    }
    return httpx.post(
        f"{node.url}/v1/alerts", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_rs256_editor_named_by_the_name_claim(
    signin_node: ServiceProcess, provider: _Provider
) -> None:
    answer = _post(signin_node, _rs256(provider, name="Nour Haddad"))
    assert answer.status_code == 201, answer.text
    assert f"alert {answer.json()['id']} by Nour Haddad to mena" in signin_node.output()


def test_es256_editor_falls_back_to_sub_and_is_held_to_the_regions_claim(
    signin_node: ServiceProcess, provider: _Provider
) -> None:
    token = jwt.encode(
        _claims(sub="wire-7", regions=["europe"]),
        provider.keys["ec-1"],
        algorithm="ES256",
        headers={"kid": "ec-1"},
    )
    assert _post(signin_node, token, ["europe"]).status_code == 201
    outside = _post(signin_node, token, ["mena"])
    assert outside.status_code == 403
    assert outside.json()["detail"] == "editor 'wire-7' may not publish to: mena"


def test_hs256_with_the_shared_secret(signin_node: ServiceProcess) -> None:
    token = jwt.encode(_claims(name="Desk HS"), SECRET, algorithm="HS256")
    assert _post(signin_node, token).status_code == 201


def _none_token() -> str:
    # PyJWT's stubs want a key even for "none", which takes none.
    return jwt.encode(_claims(name="Mallory"), None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("forge", "detail"),
    [
        (lambda p: _rs256(p, exp=int(time.time()) - 600), "the editor token has expired"),
        (
            lambda p: _rs256(p, aud="another-service"),
            "the editor token was issued for another audience",
        ),
        (
            lambda p: _rs256(p, iss="https://evil.example"),
            "the editor token comes from another issuer",
        ),
        (lambda p: _rs256(p, exp=None), "the editor token lacks the 'exp' claim"),
        (
            lambda p: jwt.encode(
                _claims(),
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                algorithm="RS256",
                headers={"kid": "rsa-1"},
            ),
            "the editor token's signature does not verify",
        ),
        (
            lambda p: jwt.encode(
                _claims(), "a-different-secret-of-32-characters!!", algorithm="HS256"
            ),
            "the editor token's signature does not verify",
        ),
        (lambda p: _none_token(), "editor tokens signed with 'none' are not accepted here"),
        (lambda p: "not.a.jwt", "the editor token is not a readable JWT"),
    ],
    ids=[
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "no-exp",
        "wrong-key",
        "wrong-secret",
        "alg-none",
        "garbage",
    ],
)
def test_bad_tokens_are_refused_with_401_problems(
    signin_node: ServiceProcess, provider: _Provider, forge: Any, detail: str
) -> None:
    answer = _post(signin_node, forge(provider))
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["detail"] == detail
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_key_rotated_in_is_fetched_on_its_unknown_kid(
    signin_node: ServiceProcess, provider: _Provider
) -> None:
    assert _post(signin_node, _rs256(provider)).status_code == 201
    provider.add_rsa("rsa-2")
    token = _rs256(provider, kid="rsa-2", name="Rotated")
    # The node refetches on an unknown kid at most every couple of seconds.
    deadline = time.monotonic() + 10
    answer = _post(signin_node, token)
    while answer.status_code == 401 and time.monotonic() < deadline:
        assert answer.json()["detail"] == "editor token signed with an unknown key"
        time.sleep(0.25)
        answer = _post(signin_node, token)
    assert answer.status_code == 201, answer.text


def _rewrite(path: Path, text: str) -> None:
    # Written beside and renamed into place, as deploy tools do: never half a file.
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    fresh.replace(path)


def test_token_file_rotates_without_a_restart(
    signin_node: ServiceProcess, token_file: Path
) -> None:
    old, new = "night-desk-token-0001", "night-desk-token-0002"
    assert _post(signin_node, old, ["europe"]).status_code == 201
    assert _post(signin_node, old, ["mena"]).status_code == 403
    _rewrite(token_file, f"night:{new}\n")
    assert _post(signin_node, old).status_code == 401
    assert _post(signin_node, new, ["mena"]).status_code == 201
    # A bad file (a token too short) is refused and the last good set stays in force.
    _rewrite(token_file, "night:short\n")
    assert _post(signin_node, new).status_code == 201
    log = signin_node.output()
    assert "is shorter than 16 characters" in log
    assert "keeping the last good tokens" in log
    assert "night:short" not in log


def test_sighup_rereads_a_token_file_that_looks_unchanged(
    tmp_path: Path,
) -> None:
    """An edit in place that keeps size and times (as some tools do) is seen on SIGHUP."""
    path = tmp_path / "editors.txt"
    path.write_text("night:night-desk-token-aaaa\n")
    with service_process(env={"BREAKING_EDITOR_TOKENS_FILE": str(path)}) as node:
        assert node.proc is not None
        assert _post(node, "night-desk-token-aaaa").status_code == 201
        before = path.stat()
        with path.open("r+") as same_inode:
            same_inode.write("night:night-desk-token-bbbb\n")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert _post(node, "night-desk-token-bbbb").status_code == 401
        node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while (status := _post(node, "night-desk-token-bbbb").status_code) != 201:
            assert time.monotonic() < deadline, f"still {status} after SIGHUP"
            time.sleep(0.1)
        assert _post(node, "night-desk-token-aaaa").status_code == 401
        assert node.proc.poll() is None, "SIGHUP must not end the node"
