"""Failed sign-ins per client address: after a burst, 429 with Retry-After instead of a guess."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from pydantic import IPvAnyNetwork
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.limits import client_address
from service.problems import Problem
from service.responses import problem_response

# Addresses remembered at once; the least recently failed are forgotten first, so a flood
# from many addresses costs bounded memory (it only forgets the quietest guessers).
_MAX_ADDRESSES = 10_000


class SignInThrottle:
    """A bucket of `per_minute` failures per address, refilled evenly over a minute."""

    def __init__(self, per_minute: int) -> None:
        self._burst = float(per_minute)
        self._refill_per_s = per_minute / 60.0
        # address -> (failures still allowed, when that was computed)
        self._buckets: OrderedDict[str | None, tuple[float, float]] = OrderedDict()

    def _allowance(self, address: str | None, now: float) -> float:
        left, at = self._buckets.get(address, (self._burst, now))
        return min(self._burst, left + (now - at) * self._refill_per_s)

    def retry_after(self, address: str | None, now: float | None = None) -> int:
        """Seconds until `address` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        left = self._allowance(address, now)
        return 0 if left >= 1 else math.ceil((1 - left) / self._refill_per_s)

    def failed(self, address: str | None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._buckets[address] = (max(self._allowance(address, now) - 1, 0.0), now)
        self._buckets.move_to_end(address)
        while len(self._buckets) > _MAX_ADDRESSES:
            self._buckets.popitem(last=False)


class SignInThrottleMiddleware:
    """Counts every 401 against the client's address; a throttled address's next token is
    refused with 429 before it is compared, so guessing costs the guesser time, not the node.

    It sits outside the routes, so the token check itself (service/auth.py) is unchanged.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_minute: int,
        proxies: Sequence[IPvAnyNetwork],
        on_failure: Callable[[], None],
        on_refusal: Callable[[str | None, str], None],
    ) -> None:
        self.app = app
        self.throttle = SignInThrottle(per_minute)
        self._proxies = proxies
        self._on_failure = on_failure
        self._on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        peer = scope["client"][0] if scope.get("client") else None
        address = client_address(peer, headers.get("x-forwarded-for"), self._proxies)
        if "authorization" in headers:
            wait = self.throttle.retry_after(address)
            if wait:
                problem = Problem(
                    429,
                    f"too many failed sign-ins from your address; retry in {wait}s",
                    headers={"retry-after": str(wait)},
                )
                self._on_refusal(address, problem.detail)
                await problem_response(problem)(scope, receive, send)
                return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.throttle.failed(address)
                self._on_failure()
            await send(message)

        await self.app(scope, receive, counting)
