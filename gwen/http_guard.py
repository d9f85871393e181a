"""The service's front door (a pure ASGI wrapper): who may come in, how much they may send, what answers carry.

Contract:
- Authentication comes first, from the headers alone, before a byte of the
  body is read: every path but the public ones (``/api/health``) needs the
  token, as ``Authorization: Bearer TOKEN`` or as HTTP Basic with any user name
  and the token as the password (what AUTOMATIC1111 clients send), compared
  in constant time. Otherwise: 401 JSON ``{"error", "type": "Unauthorized"}``.
- The body limit holds however the body arrives: a declared
  ``Content-Length`` over ``max_body`` gets 413 at once; a chunked body is
  counted as it streams and refused with 413 the moment it passes the limit.
  The app sees a body only once it is whole and within the limit (so it holds
  at most ``max_body`` bytes of any request).
- Every answer carries ``X-Content-Type-Options: nosniff``; API answers
  (``/api``, ``/sdapi``) carry ``Cache-Control: no-store``; HTML carries a
  Content-Security-Policy.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Awaitable, Callable

PUBLIC_PATHS = frozenset({"/api/health"})
API_PREFIXES = ("/api/", "/sdapi/")
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
       "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
       "frame-ancestors 'none'")

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def token_matches(header: str | None, token: str) -> bool:
    """Bearer TOKEN, or Basic with any user and TOKEN as the password."""
    header = (header or "").strip()
    given = ""
    if header[:7].lower() == "bearer ":
        given = header[7:].strip()
    elif header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        given = decoded.partition(":")[2]
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


class Guard:
    def __init__(self, app, token: str, max_body: int, public_paths: frozenset[str] = PUBLIC_PATHS):
        self.app = app
        self.token = token
        self.max_body = max_body
        self.public_paths = public_paths

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        send = self._with_headers(path, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if path not in self.public_paths and not token_matches(headers.get("authorization"), self.token):
            await _json(send, 401, {"error": "missing or wrong token (Authorization: Bearer TOKEN, or HTTP Basic "
                                             "with the token as the password)", "type": "Unauthorized"},
                        [(b"www-authenticate", b'Bearer, Basic realm="gwen"')])
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _json(send, 413, _too_large(int(declared), self.max_body))
            return
        body, complete = bytearray(), False
        while not complete:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            complete = not message.get("more_body", False)
            if len(body) > self.max_body:
                await _json(send, 413, _too_large(None, self.max_body))
                return
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: wait for a disconnect, as the server would tell it
        await self.app(scope, replay, send)

    @staticmethod
    def _with_headers(path: str, send: Send) -> Send:
        api = path.startswith(API_PREFIXES)

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                if api and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)
        return wrapped


def _too_large(declared: int | None, limit: int) -> dict:
    size = f"of {declared:,} bytes " if declared is not None else ""
    return {"error": f"request body {size}is over the limit of {limit:,} bytes", "type": "TooLarge"}


async def _json(send: Send, status: int, payload: dict, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
