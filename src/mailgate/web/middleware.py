"""Two small ASGI middlewares: security headers on every response, and a last-resort
handler that turns an unexpected exception into a 500 that tells nothing but a reference."""

from __future__ import annotations

import json
import logging
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mailgate.web")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
}


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
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UnexpectedErrors:
    """Log the exception with a correlation id; answer 500 with only that id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            reference = uuid.uuid4().hex
            log.exception("unexpected error, correlation id %s", reference)
            if started:
                raise
            await _internal_error(scope, send, reference)


async def _internal_error(scope: Scope, send: Send, reference: str) -> None:
    path = str(scope.get("path", ""))
    if path.startswith("/api/"):
        body = json.dumps(
            {
                "error": "internal_error",
                "message": f"an unexpected error occurred; quote this reference: {reference}",
                "correlation_id": reference,
            }
        ).encode()
        content_type = b"application/json"
    else:
        body = f"Internal error · 内部错误 · 內部錯誤 — reference: {reference}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"x-correlation-id", reference.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
