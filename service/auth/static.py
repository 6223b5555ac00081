"""Static bearer tokens from `BREAKING_EDITOR_TOKENS` and a file re-read when it changes."""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

from service.auth.editor import Editor
from service.config import EditorToken, Settings, read_token_file

log = logging.getLogger("breaking_push.auth")


class StaticTokens:
    """Compares in constant time; the file is stat'ed on use and re-read only when it changed."""

    def __init__(self, settings: Settings) -> None:
        self._fixed = list(settings.editor_tokens)
        self._regions = list(settings.regions)
        self._path: Path | None = settings.editor_tokens_file
        self._stamp: tuple[int, int, int] | None = None
        self._from_file: list[EditorToken] = []
        self._refresh()

    def match(self, presented: str) -> Editor | None:
        self._refresh()
        candidate = presented.encode()
        found = None
        # Compare against every token so the time taken does not tell which one nearly matched.
        for token in (*self._fixed, *self._from_file):
            if hmac.compare_digest(candidate, token.token.get_secret_value().encode()):
                found = token
        return Editor(found.name, found.regions) if found is not None else None

    def reload(self) -> None:
        """Read the file again even if it looks unchanged (SIGHUP)."""
        self._stamp = None
        self._refresh()

    def _refresh(self) -> None:
        if self._path is None:
            return
        try:
            info = os.stat(self._path)
        except OSError as exc:
            if self._stamp is not None:
                log.error("editor token file unreadable, keeping the last good tokens: %s", exc)
                self._stamp = None
            return
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._from_file = read_token_file(self._path, self._regions)
        except (OSError, ValueError) as exc:
            # A half-written or bad file must not lock every editor out: keep the last good set.
            log.error(
                "editor token file %s refused, keeping the last good tokens: %s", self._path, exc
            )
            return
        log.info("editor token file %s read: %d token(s)", self._path, len(self._from_file))
