"""The event bus behind `/_mock/events`: what happens to an account, as numbered JSON events.

Activities, delivery attempts, webhook state changes, request-journal entries and control
actions are published here by small observers hooked onto the store, the webhook engine and
the request journal. Each account keeps the newest `buffer` events, so a reader that lost its
connection resumes from the id it saw last (SSE `Last-Event-ID`); a reader that fell further
behind than the buffer is told to reload (`reset`).

Publishing never waits: each subscriber has a bounded queue, and a subscriber whose queue is
full is dropped (its stream ends; a browser reconnects and resumes), so a slow or stuck
reader can never slow the API or the deliveries. Event bodies are built and encoded lazily,
once, and only when some reader asks for them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from typing import Any

DataSource = dict[str, Any] | Callable[[], dict[str, Any]]

BUFFER = 2000  # events kept per account for resuming readers
QUEUE_LIMIT = 2000  # events a reader may lag behind before it is dropped
MAX_SUBSCRIBERS = 64  # open streams per account
MAX_ALL_SUBSCRIBERS = 512  # open streams in all


class Event:
    """One published event: a global id, the account it belongs to, a type and a JSON body."""

    __slots__ = ("_data", "_wire", "account", "id", "type")

    def __init__(self, event_id: int, account: str, type_: str, data: DataSource) -> None:
        self.id = event_id
        self.account = account
        self.type = type_
        self._data = data
        self._wire: bytes | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The event's body (built on first use)."""
        if callable(self._data):
            self._data = self._data()
        return self._data

    def wire(self) -> bytes:
        """The event as a Server-Sent Events frame (encoded once)."""
        if self._wire is None:
            text = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"), default=str)
            self._wire = f"id: {self.id}\nevent: {self.type}\ndata: {text}\n\n".encode()
        return self._wire

    def as_dict(self) -> dict[str, Any]:
        """`{"Id", "Type", "Data"}` (for tests and JSON consumers)."""
        return {"Id": self.id, "Type": self.type, "Data": self.data}


class TooManySubscribers(Exception):
    """An account already has the most open streams allowed."""


class Subscriber:
    """One reader's bounded queue of events; `overflowed` once it fell too far behind."""

    def __init__(self, account: str, limit: int, types: frozenset[str] | None) -> None:
        self.account = account
        self.limit = limit
        self.types = types
        self.queue: deque[Event] = deque()
        self.overflowed = False
        self.closed = False  # the server is shutting down: end the stream
        self.wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def offer(self, event: Event) -> bool:
        """Queue an event without waiting; False (and overflowed) when the queue is full."""
        if self.types is not None and event.type not in self.types:
            return True
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.queue.clear()
            self._signal()
            return False
        self.queue.append(event)
        self._signal()
        return True

    def _signal(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self.wake.set()
        else:  # published from another thread (a test driving the store directly)
            self._loop.call_soon_threadsafe(self.wake.set)

    async def next_batch(self, timeout: float, most: int = 100) -> list[Event]:
        """Up to `most` queued events, waiting up to `timeout` seconds for one to arrive."""
        if not self.queue and not self.overflowed and not self.closed:
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                return []
        queue = self.queue
        return [queue.popleft() for _ in range(min(most, len(queue)))]


class EventBus:
    """Per-account ring buffers of events and the live subscribers to them."""

    def __init__(
        self,
        buffer: int = BUFFER,
        queue_limit: int = QUEUE_LIMIT,
        max_subscribers: int = MAX_SUBSCRIBERS,
        max_all: int = MAX_ALL_SUBSCRIBERS,
    ) -> None:
        self.buffer = buffer
        self.max_all = max_all
        self._open = 0
        self.queue_limit = queue_limit
        self.max_subscribers = max_subscribers
        self._ids = itertools.count(1)
        self._newest = 0  # the newest id handed out (to any account)
        self._events: dict[str, deque[Event]] = {}
        self._evicted: dict[str, int] = {}  # account -> id of the newest event dropped from its buffer
        self._subscribers: dict[str, set[Subscriber]] = {}
        self.dropped = 0  # subscribers dropped for falling behind (for the bench and tests)

    def publish(self, account: str, type_: str, data: DataSource) -> Event:
        """Record an event and hand it to the account's readers; never blocks."""
        event = Event(next(self._ids), account, type_, data)
        self._newest = event.id
        ring = self._events.get(account)
        if ring is None:
            ring = self._events[account] = deque()
        if len(ring) >= self.buffer:
            self._evicted[account] = ring.popleft().id
        ring.append(event)
        subscribers = self._subscribers.get(account)
        if subscribers:
            for sub in list(subscribers):
                if not sub.offer(event):
                    subscribers.discard(sub)
                    self._open -= 1
                    self.dropped += 1
        return event

    def since(self, account: str, last_id: int) -> list[Event] | None:
        """The account's buffered events after `last_id`; None when some were already dropped,
        or when `last_id` was never handed out (a reader from before a restart)."""
        if last_id < self._evicted.get(account, 0) or last_id > self._newest:
            return None
        ring = self._events.get(account, ())
        return [e for e in ring if e.id > last_id]

    def last_id(self, account: str) -> int:
        """The id of the account's newest event (0 when none)."""
        ring = self._events.get(account)
        return ring[-1].id if ring else 0

    def subscribe(self, account: str, types: frozenset[str] | None = None) -> Subscriber:
        """A new reader of the account's events (from now on)."""
        subscribers = self._subscribers.setdefault(account, set())
        if len(subscribers) >= self.max_subscribers or self._open >= self.max_all:
            raise TooManySubscribers(account)
        sub = Subscriber(account, self.queue_limit, types)
        subscribers.add(sub)
        self._open += 1
        return sub

    def close_all(self) -> None:
        """End every open stream (server shutdown); safe to call from any thread."""
        for subscribers in list(self._subscribers.values()):
            for sub in list(subscribers):
                sub.closed = True
                sub._signal()

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a reader (idempotent)."""
        subscribers = self._subscribers.get(sub.account)
        if subscribers is not None and sub in subscribers:
            subscribers.discard(sub)
            self._open -= 1

    def subscriber_count(self, account: str | None = None) -> int:
        """Open readers of one account, or of all."""
        if account is not None:
            return len(self._subscribers.get(account, ()))
        return sum(len(s) for s in self._subscribers.values())

    def forget(self, account: str) -> None:
        """Drop an account's buffered events (its readers stay)."""
        ring = self._events.pop(account, None)
        if ring:
            self._evicted[account] = ring[-1].id


class DeliveryObserver:
    """Turns the webhook engine's attempt records into `delivery` and `webhook` events."""

    def __init__(self, bus: EventBus, hooks: dict[str, dict[str, Any]]) -> None:
        self.bus = bus
        self.hooks = hooks  # the engine's account key -> hook id -> webhook
        self._owner: dict[str, str] = {}  # hook id -> account key
        self._state: dict[str, str] = {}  # hook id -> state last published

    def account_of(self, hook_id: str) -> str | None:
        """The account a webhook belongs to (also after it was removed, if ever seen)."""
        owner = self._owner.get(hook_id)
        if owner is None:
            for key, hooks in self.hooks.items():
                for hid in hooks:
                    self._owner[hid] = key
            owner = self._owner.get(hook_id)
        return owner

    def __call__(self, record: dict[str, Any]) -> None:
        """An attempt finished: publish it, and the webhook's new state when it changed."""
        hook_id = record["WebhookId"]
        account = self.account_of(hook_id)
        if account is None:
            return
        self.bus.publish(account, "delivery", lambda: delivery_summary(record))
        state = record.get("State")
        previous = self._state.get(hook_id, "healthy")
        if state and state != previous:
            self._state[hook_id] = state
            self.bus.publish(
                account,
                "webhook",
                {"Id": hook_id, "State": state, "Previous": previous, "At": record.get("SentAt")},
            )

    def reset(self, account: str) -> None:
        """After an account reset its webhooks are healthy again."""
        for hook_id in self.hooks.get(account, {}):
            self._state[hook_id] = "healthy"


def delivery_summary(record: dict[str, Any]) -> dict[str, Any]:
    """An attempt record without its body (the detail endpoint serves that)."""
    return {k: v for k, v in record.items() if k != "Body"}


def observe(bus: EventBus, store: Any, webhooks: Any) -> DeliveryObserver:
    """Hook the bus onto a store's activities and a webhook engine's attempts."""

    def on_activity(account: Any, activity: dict[str, Any]) -> None:
        bus.publish(
            account.key,
            "activity",
            lambda: webhooks.activity_payload(activity) | {"TypeName": activity["Type"]},
        )

    store.listeners.append(on_activity)
    observer = DeliveryObserver(bus, webhooks.hooks)
    webhooks.listeners.append(observer)
    return observer
