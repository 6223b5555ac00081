"""The `breaking-push` console script: `serve`, `vapid-keys`, plus the app client's `listen` and `publish`."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence

from breaking_client.cli import register as register_client
from pydantic import ValidationError
from pydantic_settings import SettingsError

from service.config import Settings, describe_errors, describe_redis

# Any of these means the operator chose how editors sign in: no development token then.
_SIGN_IN_VARIABLES = ("EDITOR_TOKENS", "EDITOR_TOKENS_FILE", "EDITOR_JWKS_URL", "EDITOR_JWT_SECRET")


def _serve(args: argparse.Namespace) -> int:
    if not any(os.environ.get(f"BREAKING_{name}") for name in _SIGN_IN_VARIABLES):
        dev_token = f"dev-{secrets.token_urlsafe(16)}"
        # Set in the environment so every worker process accepts the same token.
        os.environ["BREAKING_EDITOR_TOKENS"] = f"desk:{dev_token}"
        print(
            "No editor sign-in configured: a development token for editor 'desk' "
            f"(the desk's sign-in and `Authorization: Bearer`):\nexport TOKEN={dev_token}",
            flush=True,
        )
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        problems = "\n".join(f"  {line}" for line in describe_errors(exc))
        print(f"breaking-push: bad configuration:\n{problems}", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.uses_redis:
        print(
            "breaking-push: --workers above 1 needs Redis (BREAKING_REDIS_URL or "
            "BREAKING_REDIS_SENTINELS): the embedded memory "
            "broker lives in one process, so workers would not see each other's alerts.",
            file=sys.stderr,
        )
        return 2
    # The URL may carry the Redis password: the start-up line lands in every log collector.
    broker = describe_redis(settings) if settings.uses_redis else "the embedded memory broker"
    print(f"breaking-push on http://{args.host}:{args.port} with {broker}", flush=True)
    from service.server import serve

    return serve(settings, args.host, args.port, args.workers)


def _vapid_keys(args: argparse.Namespace) -> int:
    from service.push.keys import generate

    private, public = generate()
    print(f"BREAKING_VAPID_PRIVATE_KEY={private}")
    print(f"# public key (GET /v1/push/key serves it to browsers): {public}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breaking-push", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a node (configuration: BREAKING_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="processes, each with one Redis subscription"
    )
    serve.set_defaults(func=_serve)
    keys = commands.add_parser(
        "vapid-keys", help="print a new Web Push (VAPID) key pair for BREAKING_VAPID_PRIVATE_KEY"
    )
    keys.set_defaults(func=_vapid_keys)
    register_client(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
