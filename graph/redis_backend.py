"""A broadcaster backend for Redis that notices a lost connection and reconnects.

broadcaster's own Redis backend neither reconnects nor reports a lost connection (its issue
#144). This one:

- publishes on a connection with short timeouts, so a write never hangs on a dead Redis (the
  caller logs the failure; the event is in the outbox);
- listens from a supervisor task that resubscribes every channel after reconnecting, with
  exponential backoff (0.2 s doubling to 5 s);
- puts :data:`LOST` on each subscribed channel when the connection goes (and on a channel
  subscribed while it is away, or whose SUBSCRIBE failed), and :data:`RESYNC` after every
  (re)connection, so consumers read the outbox meanwhile and what they missed
  (``graph.live.EventBus``); :meth:`ResilientRedisBackend.hears` says whether a channel is
  subscribed on the live connection.

A channel counts as subscribed once its SUBSCRIBE is written (redis-py does not wait for
Redis's acknowledgement, nor does broadcaster's backend): a message Redis handled before it is
not heard. A subscriber reads the workspace's sequence from the database after that
(``LiveStream._start``), so an event it must receive is published at least a round trip to the
database later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from broadcaster import BroadcastBackend, Event
from redis import asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RESYNC = "\x00resync"
"""Message put on every subscribed channel after a (re)connection."""
LOST = "\x00lost"
"""Message put on every subscribed channel when the connection is lost: until :data:`RESYNC`,
nothing published arrives (the bus reads the outbox instead)."""

MIN_BACKOFF, MAX_BACKOFF = 0.2, 5.0


class ResilientRedisBackend(BroadcastBackend):
    def __init__(self, url: str) -> None:
        self._url = url
        self._publisher = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._channels: set[str] = set()
        self._heard: set[str] = set()  # subscribed on the current connection
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._pubsub: Any = None
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.connected = False

    async def connect(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def disconnect(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        await self._close_pubsub()
        with contextlib.suppress(Exception):
            await self._publisher.aclose()

    def hears(self, channel: str) -> bool:
        """Whether ``channel`` is subscribed on the connection now up: every message published
        on it from now on arrives, until :data:`LOST` says otherwise."""
        return channel in self._heard

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is not None and self.connected:
            try:
                await pubsub.subscribe(channel)
            except (RedisError, OSError):
                log.warning("subscribe to %s failed; it is retried on reconnection", channel)
            else:
                # not if the connection was lost or closed meanwhile: its LOST may have gone
                # before this channel's consumer was registered
                if self._pubsub is pubsub and self.connected:
                    self._heard.add(channel)
        if channel not in self._heard:
            # nothing published on it arrives until the (re)connection's RESYNC: its
            # consumer reads the outbox meanwhile
            self._queue.put_nowait(Event(channel=channel, message=LOST))
        self._wake.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._heard.discard(channel)
        if self._pubsub is not None and self.connected:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self.connected = False
        self._heard.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _supervise(self) -> None:
        backoff = MIN_BACKOFF
        while True:
            if not self._channels:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                client = redis.Redis.from_url(
                    self._url, socket_connect_timeout=2, health_check_interval=5
                )
                self._pubsub = client.pubsub(ignore_subscribe_messages=True)
                heard: set[str] = set()
                # a channel added while SUBSCRIBE was under way is subscribed before going on
                while missing := self._channels - heard:
                    await self._pubsub.subscribe(*sorted(missing))
                    heard |= missing
                self._heard = heard & self._channels
                self.connected = True
                if backoff > MIN_BACKOFF:
                    log.warning("reconnected to Redis; subscribers resynchronise from the outbox")
                backoff = MIN_BACKOFF
                for channel in sorted(self._heard):
                    self._queue.put_nowait(Event(channel=channel, message=RESYNC))
                while self._channels:
                    message = await self._pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._queue.put_nowait(
                            Event(
                                channel=message["channel"].decode(),
                                message=message["data"].decode(),
                            )
                        )
                await self._close_pubsub()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect with backoff
                if self.connected or backoff == MIN_BACKOFF:
                    log.warning("lost the Redis connection (%s); reconnecting", exc)
                    for channel in list(self._channels):
                        self._queue.put_nowait(Event(channel=channel, message=LOST))
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)


__all__ = ["LOST", "RESYNC", "ResilientRedisBackend"]
