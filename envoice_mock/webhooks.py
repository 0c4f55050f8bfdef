"""Webhook engine (placeholder until the delivery engine lands)."""

from __future__ import annotations

from typing import Any

from .clock import Clock
from .config import Settings


class WebhookEngine:
    """Subscriptions and deliveries per account."""

    def __init__(self, settings: Settings, clock: Clock, journal: Any = None) -> None:
        self.settings = settings
        self.clock = clock
        self.journal = journal

    def on_activity(self, account: Any, activity: dict[str, Any]) -> None:
        """Queue an activity for every webhook of the account."""

    def add(self, account: Any, url: str, secret: str | None = None) -> dict[str, Any]:
        """Register a webhook URL."""
        return {}

    async def start(self) -> None:
        """Start delivering."""

    async def stop(self) -> None:
        """Stop delivering."""
