"""The one injectable clock behind every timestamp and every timer.

A clock is an origin instant plus elapsed real time times a speed, plus manual advances.
Speed 1 with the current instant as origin is the wall clock; speed 0 is a frozen virtual
clock that moves only when advanced, which is how tests and scenarios run hours of retry
schedule in milliseconds.

Each account sees the server's clock plus its own offset: `seconds(account)`, `now(account)`
and `advance(s, account)` read and move one account's time line only, so one account moving
its clock three days forward changes nothing for another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """Virtual time: `origin + speed * real_elapsed + advanced`."""

    def __init__(
        self,
        origin: datetime | None = None,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._real_origin = monotonic()
        self.origin = (origin or datetime.now(UTC)).astimezone(UTC)
        self.speed = speed
        self._advanced = 0.0
        self._offsets: dict[str, float] = {}  # account key -> seconds it advanced on its own
        self._listeners: list[Callable[[], None]] = []

    def now(self, account: str | None = None) -> datetime:
        """The current instant (of the server, or of one account), timezone-aware UTC."""
        return self.origin + timedelta(seconds=self.seconds(account))

    def seconds(self, account: str | None = None) -> float:
        """Seconds since the origin (on the server's time line, or on one account's)."""
        base = (self._monotonic() - self._real_origin) * self.speed + self._advanced
        return base + self._offsets.get(account, 0.0) if account is not None else base

    def offset(self, account: str) -> float:
        """How far an account's clock runs ahead of the server's."""
        return self._offsets.get(account, 0.0)

    def advance(self, seconds: float, account: str | None = None) -> datetime:
        """Move time forward (the server's, or one account's) and tell the listeners."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        if account is None:
            self._advanced += seconds
        else:
            self._offsets[account] = self._offsets.get(account, 0.0) + seconds
        for listener in list(self._listeners):
            listener()
        return self.now(account)

    def real_delay(self, virtual_seconds: float) -> float | None:
        """How long to really wait for `virtual_seconds` to pass; None when never (frozen)."""
        if self.speed <= 0:
            return None
        return max(0.0, virtual_seconds / self.speed)

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Register a callback run after every manual advance; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def describe(self, account: str | None = None) -> dict[str, object]:
        """The clock's state for the control API (as one account sees it)."""
        advanced = self._advanced + (self.offset(account) if account is not None else 0.0)
        return {
            "Now": iso(self.now(account)),
            "Origin": iso(self.origin),
            "Speed": self.speed,
            "AdvancedSeconds": round(advanced, 3),
            "Virtual": self.speed != 1.0 or advanced != 0.0,
        }


def iso(moment: datetime) -> str:
    """ISO-8601 with offset and whole seconds, as the API serializes dates."""
    return moment.isoformat(timespec="seconds")


def webhook_timestamp(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:mm:ss.fffffffZ` in UTC (seven fractional digits)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 date or instant; without an offset it is UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
