"""A TCP proxy inside the test, between a node and its Redis: cut the link, hold it silently,
or slow down only the connection that carries the node's subscription."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

_CHUNK = 65536


class Proxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`.

    `hold()` stops forwarding but keeps every connection open (a half-open link); `cut()`
    closes every connection and refuses new ones; `resume()` undoes either. Setting
    `subscription_delay` delays what Redis sends on a connection that subscribed.
    """

    def __init__(self, target: int) -> None:
        self._target = target
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._refusing = False
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0
        self.subscription_delay = 0.0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def hold(self) -> None:
        self._flowing.clear()

    def cut(self) -> None:
        self._refusing = True
        for writer in list(self._links):
            writer.close()

    def retarget(self, target: int) -> None:
        """New connections go to `target`: a failover behind one address."""
        self._target = target

    def resume(self) -> None:
        self._refusing = False
        self._flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}
        # Whether the node sent (S)SUBSCRIBE on this connection: its pub/sub link.
        subscribed: list[bool] = [False]
        for src, dst, upstream in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pump(src, dst, upstream, subscribed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        upstream: bool,
        subscribed: list[bool],
    ) -> None:
        try:
            while data := await src.read(_CHUNK):
                if upstream and b"SUBSCRIBE" in data.upper():
                    subscribed[0] = True
                await self._flowing.wait()
                if not upstream and subscribed[0] and self.subscription_delay:
                    await asyncio.sleep(self.subscription_delay)
                if dst.is_closing():
                    break
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(dst)
            dst.close()


@contextlib.asynccontextmanager
async def proxy_to(target: int) -> AsyncIterator[Proxy]:
    """A running proxy in front of `target`, closed with everything it opened."""
    proxy = Proxy(target)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
