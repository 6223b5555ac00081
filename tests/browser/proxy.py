"""A TCP proxy between a browser page and a node, to make the paths a laptop meets: dead but open."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

_CHUNK = 65536
# Bounded: a test page opens a handful of connections; anything past this is refused.
_MAX_LINKS = 64
_WAIT_S = 5.0


@dataclass(eq=False)
class _Link:
    """One browser connection and its upstream twin."""

    browser: asyncio.StreamWriter
    node: asyncio.StreamWriter | None = None
    stalled: bool = False
    # Held back after the node's 101 answer: the node's first frame (`ready`) comes this late.
    ready_delay_s: float = 0.0

    def close(self) -> None:
        self.browser.close()
        if self.node is not None:
            self.node.close()


@dataclass
class PageProxy:
    """Forwards 127.0.0.1:`port` to a node on 127.0.0.1:`target`, from its own thread.

    `stall()` freezes every connection open now: nothing more is forwarded either way and
    nothing is closed, a half-open path (a laptop that slept, a NAT that forgot). Connections
    made later forward as usual. `refuse_websocket` closes `GET /v1/ws` requests at once, as
    a proxy that blocks upgrades does; `slow_ready_s` lets the upgrade through but holds the
    frames after it that long, as a node waiting to catch up with a resume id does.
    """

    target: int
    refuse_websocket: bool = False
    slow_ready_s: float = 0.0
    port: int = 0
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _links: set[_Link] = field(default_factory=set)
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        """Every connection open now goes silent for good, and stays open."""

        async def freeze() -> None:
            for link in self._links:
                link.stalled = True

        self._call(freeze())

    def close(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for link in list(self._links):
                link.close()
            # Every pump ends at the close of its sockets; none is cancelled mid-write.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=_WAIT_S)

        self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(_WAIT_S)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_WAIT_S)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        if len(self._links) >= _MAX_LINKS:
            writer.close()
            return
        self._links.add(link)
        try:
            first = await reader.read(_CHUNK)
            websocket = first.startswith(b"GET /v1/ws")
            if not first or (self.refuse_websocket and websocket):
                return
            if websocket:
                link.ready_delay_s = self.slow_ready_s
            up_reader, link.node = await asyncio.open_connection("127.0.0.1", self.target)
            link.node.write(first)
            await asyncio.gather(
                self._pump(link, reader, link.node, from_browser=True),
                self._pump(link, up_reader, writer, from_browser=False),
            )
        except OSError:
            pass
        finally:
            link.close()
            self._links.discard(link)

    @staticmethod
    async def _pump(
        link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, from_browser: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(_CHUNK):
                if link.ready_delay_s and not from_browser:
                    head, _, data = data.partition(b"\r\n\r\n")
                    dst.write(head + b"\r\n\r\n")
                    await asyncio.sleep(link.ready_delay_s)
                    link.ready_delay_s = 0.0
                # Stalled: keep reading (to see the page give up) but pass nothing on.
                if data and not link.stalled:
                    dst.write(data)
                    await dst.drain()
        # The node ending a stalled link must not reach the page: only the page may end it.
        if from_browser or not link.stalled:
            link.close()


@contextlib.contextmanager
def page_proxy(target: int) -> Iterator[PageProxy]:
    """A running proxy in front of the node on `target`, closed with all it opened."""
    proxy = PageProxy(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
