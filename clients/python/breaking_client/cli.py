"""`listen` and `publish`: the client's own `breaking-push-client` command, also on the server's.

Exit codes: 0 done, 2 usage error, 3 the API rejected the request, 4 the service could not be
reached, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import get_args

from breaking_client.client import BreakingClient, logger
from breaking_client.errors import ApiError, ServiceUnavailableError
from breaking_client.models import Category, Event, Language, LiveAlerts, Priority

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130

DEFAULT_URL = "http://127.0.0.1:8000"

# SGR codes: flash stands out like the site's red bar; update is quieter than breaking.
_COLOURS = {"flash": "1;97;41", "breaking": "1;31", "update": "33"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `listen` and `publish` to the console script's subcommands."""
    listen = subparsers.add_parser(
        "listen",
        help="print live events, one line each",
        description="Follow the live events: reconnects and resumes on its own until Ctrl-C.",
    )
    _add_url(listen)
    listen.add_argument("--region", action="append", help="region slug (repeatable, or a,b)")
    listen.add_argument("--language", choices=get_args(Language))
    listen.add_argument("--category", choices=get_args(Category))
    listen.add_argument("--priority", choices=get_args(Priority), help="minimum priority")
    listen.add_argument("--last-event-id", help="resume after this event id")
    listen.add_argument("--transport", choices=["auto", "websocket", "sse"], default="auto")
    listen.add_argument("--json", action="store_true", help="print JSON lines")
    listen.set_defaults(func=_listen)

    alerts = subparsers.add_parser(
        "alerts",
        help="print the live alerts, corrected ones marked",
        description="The live alerts, newest first; a corrected one shows what it first said.",
    )
    _add_url(alerts)
    alerts.add_argument("--region", action="append", help="region slug (repeatable, or a,b)")
    alerts.add_argument("--language", choices=get_args(Language))
    alerts.add_argument("--json", action="store_true", help="print JSON lines")
    alerts.set_defaults(func=_alerts)

    publish = subparsers.add_parser(
        "publish",
        help="publish one alert (editor token needed)",
        description="Publish one alert and print its event. Exit 3: rejected; 4: unreachable.",
    )
    _add_url(publish)
    publish.add_argument(
        "--token",
        default=os.environ.get("BREAKING_TOKEN"),
        help="editor token (default: $BREAKING_TOKEN)",
    )
    publish.add_argument("headline")
    publish.add_argument("--region", action="append", required=True, help="repeatable, or a,b")
    publish.add_argument("--language", choices=get_args(Language), default="en")
    publish.add_argument("--category", choices=get_args(Category))
    publish.add_argument("--priority", choices=get_args(Priority))
    publish.add_argument("--source", help="who reports it, e.g. 'Correspondent in Caracas'")
    publish.add_argument("--link", help="the story's http(s) URL")
    publish.add_argument("--ttl", type=int, metavar="SECONDS", help="how long the alert stays live")
    publish.add_argument(
        "--idempotency-key", help="a retry with the same key publishes nothing new"
    )
    publish.add_argument("--json", action="store_true", help="print the event as JSON")
    publish.set_defaults(func=_publish)


def main(argv: Sequence[str] | None = None) -> int:
    """`breaking-push-client` (and `python -m breaking_client`): the commands without the server."""
    parser = argparse.ArgumentParser(prog="breaking-push-client", description=__doc__)
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("BREAKING_URL", DEFAULT_URL),
        help=f"the service (default: $BREAKING_URL or {DEFAULT_URL})",
    )


def _regions(values: list[str] | None) -> list[str]:
    return [
        region.strip() for value in values or [] for region in value.split(",") if region.strip()
    ]


def _listen(args: argparse.Namespace) -> int:
    # Only the client's own news (connected, reconnecting): not every HTTP request httpx logs.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("breaking-push: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    colour = not args.json and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    try:
        return asyncio.run(_follow(args, colour))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


async def _follow(args: argparse.Namespace, colour: bool) -> int:
    async with BreakingClient(args.url, transport=args.transport) as client:
        events = client.events(
            regions=_regions(args.region),
            language=args.language,
            category=args.category,
            priority=args.priority,
            last_event_id=args.last_event_id,
        )
        # What this session has seen, so a correction or retraction can say what it changed.
        seen = LiveAlerts()
        try:
            async for event in events:
                if isinstance(event, Event):
                    before = seen.get(event.alert_id)
                    seen.apply(event)
                    _print(event, args.json, colour, before)
                elif args.json:
                    print(event.model_dump_json(), flush=True)
                else:
                    print("breaking-push: history reset; reload the live alerts", file=sys.stderr)
        except ApiError as exc:
            return _rejected(exc)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, and keep the exit flush from failing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _alerts(args: argparse.Namespace) -> int:
    try:
        alerts = asyncio.run(_live(args))
    except ApiError as exc:
        return _rejected(exc)
    except ServiceUnavailableError as exc:
        print(f"breaking-push: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    for alert in alerts:
        _print(alert, args.json, colour=False)
    return EXIT_OK


async def _live(args: argparse.Namespace) -> list[Event]:
    async with BreakingClient(args.url) as client:
        return await client.live_alerts(regions=_regions(args.region), language=args.language)


def _publish(args: argparse.Namespace) -> int:
    if not args.token:
        print("breaking-push: publish needs --token or BREAKING_TOKEN", file=sys.stderr)
        return EXIT_USAGE
    try:
        event = asyncio.run(_post(args))
    except ApiError as exc:
        return _rejected(exc)
    except ServiceUnavailableError as exc:
        print(f"breaking-push: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    _print(event, args.json, colour=sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    return EXIT_OK


async def _post(args: argparse.Namespace) -> Event:
    async with BreakingClient(args.url, args.token) as client:
        return await client.publish(
            args.headline,
            regions=_regions(args.region),
            language=args.language,
            category=args.category,
            priority=args.priority,
            source=args.source,
            url=args.link,
            ttl_seconds=args.ttl,
            idempotency_key=args.idempotency_key,
        )


def _rejected(exc: ApiError) -> int:
    problem = exc.problem
    head = f"breaking-push: rejected: {problem.status} {problem.title}"
    if problem.errors:  # the detail repeats them: one line per field reads better
        lines = [head, *(f"  {error.field}: {error.message}" for error in problem.errors)]
    else:
        lines = [f"{head}: {problem.detail}"]
    print("\n".join(lines), file=sys.stderr)
    return EXIT_REJECTED


def _print(event: Event, as_json: bool, colour: bool, before: Event | None = None) -> None:
    if as_json:
        # `corrected` only where it is true: events on the wire never carry it.
        line = event.model_dump_json(
            exclude_none=True, exclude=None if event.corrected else {"corrected"}
        )
    else:
        line = format_event(event, before)
        if colour:
            line = f"\x1b[{_COLOURS[event.priority]}m{line}\x1b[0m"
    print(line, flush=True)


def format_event(event: Event, before: Event | None = None) -> str:
    """One line: local time, what happened, the regions and language, then the text.

    `before` is the alert as it stood, when known: a correction then says what it replaced,
    a retraction what it withdrew.
    """
    when = datetime.fromisoformat(event.published_at).astimezone().strftime("%H:%M:%S")
    where = f"[{','.join(event.regions)}] {event.language}"
    if event.type == "alert":
        text = event.headline or ""
        if event.source:
            text += f" ({event.source})"
        if event.url:
            text += f" {event.url}"
        if event.corrected:
            text += f"  [updated; first: {event.original_headline}]"
        return f"{when} {event.priority.upper():<8} {where} {event.id}  {text}"
    if event.type == "correction":
        was = f"  [was: {before.headline}]" if before is not None else ""
        return f"{when} {'CORRECTS':<8} {where} {event.alert_id}  {event.headline}{was}"
    reason = f"  reason: {event.reason}" if event.reason else "  (no reason given)"
    what = f"  [withdrawn: {before.headline}]" if before is not None else ""
    return f"{when} {'RETRACTS':<8} {where} {event.alert_id}{reason}{what}"
