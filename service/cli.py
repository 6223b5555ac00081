"""The `breaking-push` console script: `serve`, `vapid-keys`, plus the app client's `listen` and `publish`."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence

from breaking_client.cli import register as register_client
from pydantic import ValidationError

from service.config import Settings


def _serve(args: argparse.Namespace) -> int:
    if not os.environ.get("BREAKING_EDITOR_TOKENS"):
        # Set in the environment so every worker process accepts the same token.
        os.environ["BREAKING_EDITOR_TOKENS"] = f"desk:dev-{secrets.token_urlsafe(12)}"
        dev_token = os.environ["BREAKING_EDITOR_TOKENS"].split(":", 1)[1]
        print(f"No BREAKING_EDITOR_TOKENS set: development editor token is {dev_token}", flush=True)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"breaking-push: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.redis_url:
        print(
            "breaking-push: --workers above 1 needs BREAKING_REDIS_URL: the embedded memory "
            "broker lives in one process, so workers would not see each other's alerts.",
            file=sys.stderr,
        )
        return 2
    broker = (
        "Redis at " + settings.redis_url if settings.redis_url else "the embedded memory broker"
    )
    print(f"breaking-push on http://{args.host}:{args.port} with {broker}", flush=True)
    from service.server import serve

    serve(settings, args.host, args.port, args.workers)
    return 0


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
