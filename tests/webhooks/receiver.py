"""A webhook receiver for the tests: a real HTTP server (uvicorn, on a loopback port, in the
test's event loop) that verifies every request with the Standard Webhooks library and answers
as the test scripts it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support import free_port


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    status: int
    verified: bool
    at: float = field(default_factory=time.monotonic)

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """Answers 200 to every verified request unless :attr:`script` holds answers to give
    first, one per request: a status, or ``(status, headers)``, or ``(status, headers, seconds
    to wait before answering)``; 400 to a request that does not verify with :attr:`secret`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secret: str | None = None
        self.script: list[int | tuple] = []
        self.requests: list[Received] = []
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def app(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            Webhook(self.secret or "whsec_MA==").verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        answer = (self.script.pop(0) if self.script else 200) if verified else 400
        status, extra, delay = (*answer, 0)[:3] if isinstance(answer, tuple) else (answer, {}, 0)
        self.requests.append(Received(headers, body, status, verified))
        if delay:
            await asyncio.sleep(delay)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
        )
        self.server = uvicorn.Server(config)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
            self.server = self.task = None

    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in arrival order."""
        return [r for r in self.requests if 200 <= r.status < 300]

    async def wait_for(self, condition, timeout: float = 15.0) -> None:
        """Wait until ``condition()`` holds (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received {len(self.requests)} requests")
            await asyncio.sleep(0.05)
