"""Pure ASGI middleware: security headers on every response and a request-size cap.

Pure ASGI (not BaseHTTPMiddleware) so the live SSE stream passes through untouched.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

MAX_BODY = 2 * 1024 * 1024

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def send_error(send: Send, status: int, code: str, message: str,
                     headers: Mapping[str, str] | None = None) -> None:
    """Answer with the common error shape from below the exception handlers."""
    body = json.dumps(error_body(code, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    if k not in headers:
                        headers[k] = v
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse bodies over ``max_body`` with 413 before any handler reads them.

    A declared Content-Length is checked up front (the server never delivers more than it
    declares). A chunked body has no length, so it is read here, up to the cap, and replayed
    to the app; past the cap the request is answered 413 without reading the rest.
    """

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await send_error(send, 400, "bad_request", "Content-Length is not a number")
            elif int(length) > self.max_body:
                await send_error(send, 413, "too_large", "request body too large")
            else:
                await self.app(scope, receive, send)
            return
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await send_error(send, 413, "too_large", "request body too large")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _nul_at(value: object, where: str) -> str | None:
    """Where the first NUL sits in a decoded JSON value (keys included), or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _nul_at(k, where) or _nul_at(v, f"{where}.{k}")
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_at(v, f"{where}.{i}")
            if found:
                return found
    return None


class NoNulText:
    """422 for a NUL character anywhere in the path, the query or a JSON/form body.

    PostgreSQL cannot store NUL in text (SQLite can): refusing it here, before any handler,
    gives both databases the same answer — a clear 422, never a 500 — and keeps NULs out of
    the evidence and the audit log. Other bodies (a signed PDF to verify) are not text.
    """

    MESSAGE = "text must not contain a NUL character"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or (b"%00" in query or b"\x00" in query):
            where = "path" if "\x00" in scope.get("path", "") else "query"
            await send_error(send, 422, "invalid", f"{where}: {self.MESSAGE}")
            return
        ctype = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/x-www-form-urlencoded"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        in_body = self._body_nul(body, ctype)
        if in_body is not None:
            await send_error(send, 422, "invalid", f"{in_body}: {self.MESSAGE}")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _body_nul(body: bytes, ctype: str) -> str | None:
        if ctype == "application/x-www-form-urlencoded":
            return "body" if b"%00" in body or b"\x00" in body else None
        if b"\\u0000" not in body and b"\x00" not in body:
            return None  # the common case: no NUL can be in there
        try:
            value = json.loads(body)
        except ValueError:
            return None  # not JSON: the app's own 422 says so
        return _nul_at(value, "body")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """``X-Forwarded-For``/``-Proto`` believed only from ``[web] trusted_proxies``.

    From any other peer — localhost included — the headers are ignored: a local client
    cannot pose as another address to slip the login throttle (issue 20). From a trusted
    proxy, the client is the right-most forwarded address that is not itself a trusted
    proxy (each proxy appends what it saw; only those entries are trustworthy).
    """

    def __init__(self, app: ASGIApp, trusted: Iterable[str] = ()) -> None:
        self.app = app
        self.nets: list[Network] = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _trusted(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in n for n in self.nets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.nets:
            client = scope.get("client")
            if client and self._trusted(client[0]):
                headers = Headers(scope=scope)
                hops = [h.strip() for h in ",".join(headers.getlist("x-forwarded-for")).split(",")
                        if h.strip()]
                for hop in reversed(hops):
                    if not self._trusted(hop):
                        try:
                            host = str(ipaddress.ip_address(hop))
                        except ValueError:
                            break  # garbage from the proxy's own client: keep the peer
                        scope = {**scope, "client": (host, 0)}
                        break
                proto = headers.get("x-forwarded-proto", "").strip().lower()
                if proto in ("http", "https"):
                    scope = {**scope, "scheme": proto if scope["type"] == "http" else
                             ("wss" if proto == "https" else "ws")}
        await self.app(scope, receive, send)
