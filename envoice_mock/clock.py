"""The one injectable clock behind every timestamp and every timer.

A clock is an origin instant plus elapsed real time times a speed, plus manual advances.
Speed 1 with the current instant as origin is the wall clock; speed 0 is a frozen virtual
clock that moves only when advanced, which is how tests and scenarios run hours of retry
schedule in milliseconds.
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
        self._listeners: list[Callable[[], None]] = []

    @classmethod
    def frozen(cls, origin: datetime) -> Clock:
        """A clock that stands still at `origin` until advanced."""
        return cls(origin=origin, speed=0.0)

    @property
    def is_virtual(self) -> bool:
        """True when time does not follow the wall clock one to one."""
        return self.speed != 1.0 or self._advanced != 0.0

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        return self.origin + timedelta(seconds=self.seconds())

    def seconds(self) -> float:
        """Seconds since the origin."""
        return (self._monotonic() - self._real_origin) * self.speed + self._advanced

    def advance(self, seconds: float) -> datetime:
        """Move time forward and tell the listeners (timers re-check what fell due)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._advanced += seconds
        for listener in list(self._listeners):
            listener()
        return self.now()

    def real_delay(self, virtual_seconds: float) -> float | None:
        """How long to really wait for `virtual_seconds` to pass; None when never (frozen)."""
        if self.speed <= 0:
            return None
        return max(0.0, virtual_seconds / self.speed)

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Register a callback run after every manual advance; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def describe(self) -> dict[str, object]:
        """The clock's state for the control API."""
        return {
            "Now": iso(self.now()),
            "Origin": iso(self.origin),
            "Speed": self.speed,
            "AdvancedSeconds": self._advanced,
            "Virtual": self.is_virtual,
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
