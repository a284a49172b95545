"""Login throttling: per (account, source) with backoff, and per source across accounts.

:class:`AccountThrottle` slows guessing of one account's password from one address: a few
free failures, then each attempt must wait twice as long as the last (to 15 minutes). It is
keyed on the name *as typed*, so a name that is no account gets exactly the same answers
(no enumeration), and on the source, so nobody can lock the clerk out from elsewhere: a
correct password from an address without failures is never refused (issue 20, fault 5).

:class:`LoginThrottle` stops one address guessing many accounts. It is a pure ASGI wrapper
round both login endpoints, the JSON ``POST /api/v1/session`` and the dashboard's ``POST
/login``, so the two cannot drift apart. A failure is what each endpoint answers on a
refused login: 401 from the API, a redirect back to the form with an error from the page.
The source address is the one :class:`api.middleware.TrustedProxies` settled on.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import send_error

MAX_FAILURES = 10  # per address per window; above the account lock-out's 5 on purpose
WINDOW_SECONDS = 15 * 60
MAX_TRACKED = 10_000  # addresses remembered; the oldest are forgotten first


class LoginThrottle:
    """Sliding window of failed logins per address (in memory: one web process per site)."""

    def __init__(self, *, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float]:
        q = self._failures.get(address)
        if q is None:
            return deque()
        horizon = self.clock() - self.window
        while q and q[0] <= horizon:
            q.popleft()
        if not q:
            del self._failures[address]
        return q

    def retry_after(self, address: str) -> int | None:
        """Seconds until this address may try again, or None if it may now."""
        q = self._recent(address)
        if len(q) < self.max_failures:
            return None
        return max(1, math.ceil(q[0] + self.window - self.clock()))

    def failed(self, address: str) -> None:
        q = self._failures.setdefault(address, deque())
        q.append(self.clock())
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)


FREE_FAILURES = 5  # per (account, source) before the backoff starts
BACKOFF_FIRST = 2.0  # seconds; doubles with each further failure
BACKOFF_MAX = 15 * 60.0


class AccountThrottle:
    """Failed logins per (name as typed, source address), with exponential backoff."""

    def __init__(self, *, free: int = FREE_FAILURES, first: float = BACKOFF_FIRST,
                 cap: float = BACKOFF_MAX, clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.first, self.cap, self.clock = free, first, cap, clock
        self._state: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()

    @staticmethod
    def _key(username: str, source: str) -> tuple[str, str]:
        return username.strip().casefold()[:100], source

    def _delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.first * 2 ** min(failures - self.free, 30))

    def retry_after(self, username: str, source: str) -> int | None:
        """Seconds until this name may be tried again from this source, or None."""
        key = self._key(username, source)
        state = self._state.get(key)
        if state is None:
            return None
        failures, last = state
        now = self.clock()
        if now - last > self.cap + self._delay(failures):  # quiet long enough: forgiven
            del self._state[key]
            return None
        wait = last + self._delay(failures) - now
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, username: str, source: str) -> None:
        key = self._key(username, source)
        failures, _ = self._state.get(key, (0, 0.0))
        self._state[key] = (failures + 1, self.clock())
        self._state.move_to_end(key)
        while len(self._state) > MAX_TRACKED:
            self._state.popitem(last=False)

    def succeeded(self, username: str, source: str) -> None:
        self._state.pop(self._key(username, source), None)

    def waiting(self, username: str) -> int | None:
        """Seconds until this account may be tried again from the source that waits longest
        (None: no source waits): what IT sees as "locked" on the users page."""
        waits = [w for name, source in self._keys_of(username)
                 if (w := self.retry_after(name, source)) is not None]
        return max(waits) if waits else None

    def forget_account(self, username: str) -> None:
        """IT lifted the wait for this account (every source)."""
        for key in self._keys_of(username):
            del self._state[key]

    def _keys_of(self, username: str) -> list[tuple[str, str]]:
        """This account's (name, source) entries, from every source (a copy: callers
        delete)."""
        name = self._key(username, "")[0]
        return [k for k in self._state if k[0] == name]


def _api_failed(status: int, _: Headers) -> bool:
    return status == 401


def _page_failed(status: int, headers: Headers) -> bool:
    return status == 303 and headers.get("location", "").startswith("/login?error=")


LOGIN_ENDPOINTS: dict[str, Callable[[int, Headers], bool]] = {
    "/api/v1/session": _api_failed,
    "/login": _page_failed,
}


class LoginThrottleMiddleware:
    def __init__(self, app: ASGIApp, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failed = LOGIN_ENDPOINTS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if failed is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        wait = self.throttle.retry_after(address)
        if wait is not None:
            await send_error(send, 429, "rate_limited",
                             "too many failed logins from this address; try again later",
                             {"Retry-After": str(wait)})
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and failed(
                message["status"], Headers(raw=message.get("headers", []))
            ):
                self.throttle.failed(address)
            await send(message)

        await self.app(scope, receive, watch)
